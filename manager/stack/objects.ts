// A stack's own objects: the networks, secrets and configs a deploy creates, and the stack record that lists them.
import { FleetError, notFound } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import { STACK_LABEL, type NetworkRecord } from '../../shared/network.js';
import { decryptAtRest, encryptAtRest } from '../../shared/sealing.js';
import type { StackFile, StackPlan, StackRecord } from '../../shared/stack.js';
import type { HandlerContext } from '../api/context.js';
import type { OverlayView } from '../api/overlay-view.js';
import type { ConfigRecord } from '../store/commands.js';

/** The network record to create, or null when it exists (external, or made by this stack). */
export function ensureNetwork(
  view: OverlayView,
  stack: string,
  n: StackPlan['networks'][number],
  now: number,
): NetworkRecord | null {
  const existing = view.networkByName(n.name);
  if (n.external) {
    if (!existing)
      throw notFound(`external network ${n.name} (create it with "fleet network create")`);
    return null;
  }
  if (existing) {
    if (existing.stack !== stack)
      throw new FleetError('conflict', `network ${n.name} exists and is not stack ${stack}'s`);
    return null;
  }
  const rec: NetworkRecord = {
    id: randomId(),
    name: n.name,
    driver: 'bridge',
    stack,
    internal: n.internal,
    attachable: n.attachable,
    labels: { ...n.labels, [STACK_LABEL]: stack },
    createdAt: now,
  };
  view.putNetwork(rec);
  return rec;
}

/**
 * The secret or config to create (a secret's data encrypted at rest), or null when it exists
 * unchanged. As in Swarm, a stack's secret or config cannot change under the same name.
 */
export function ensureFile(
  view: OverlayView,
  stack: string,
  kind: 'secret' | 'config',
  f: StackFile,
  ctx: HandlerContext,
): ConfigRecord | null {
  const existing = kind === 'secret' ? view.secretByName(f.name) : view.configByName(f.name);
  if (f.external || f.data === undefined) {
    if (!existing) throw notFound(`external ${kind} ${f.name}`);
    return null;
  }
  const value = Buffer.from(f.data, 'base64');
  if (existing) {
    if (existing.labels[STACK_LABEL] !== stack)
      throw new FleetError('conflict', `${kind} ${f.name} exists and is not stack ${stack}'s`);
    const stored =
      'encrypted' in existing
        ? decryptAtRest(ctx.dataKey, existing.encrypted)
        : Buffer.from(existing.data, 'base64');
    if (!stored || !Buffer.from(stored).equals(value))
      throw new FleetError(
        'conflict',
        `${kind} ${f.name} changed, and a ${kind} cannot be updated: give the new one another name`,
      );
    return null;
  }
  const rec: ConfigRecord = {
    id: randomId(),
    name: f.name,
    data: kind === 'secret' ? encryptAtRest(ctx.dataKey, value) : f.data,
    size: value.length,
    labels: { ...f.labels, [STACK_LABEL]: stack },
    createdAt: ctx.now,
  };
  if (kind === 'secret') {
    const { data, ...rest } = rec;
    view.putSecret({ ...rest, encrypted: data });
  } else view.putConfig(rec);
  value.fill(0);
  return rec;
}

export function stackRecord(
  plan: StackPlan,
  old: StackRecord | undefined,
  kept: string[],
  now: number,
): StackRecord {
  const ownNetworks = plan.networks.filter((n) => !n.external).map((n) => n.name);
  const own = (fs: StackFile[]): string[] => fs.filter((f) => !f.external).map((f) => f.name);
  return {
    id: old?.id ?? randomId(),
    name: plan.name,
    services: [...plan.services.map((s) => s.name), ...kept],
    networks: [...new Set([...(old?.networks ?? []), ...ownNetworks])],
    secrets: [...new Set([...(old?.secrets ?? []), ...own(plan.secrets)])],
    configs: [...new Set([...(old?.configs ?? []), ...own(plan.configs)])],
    compose: plan.compose,
    createdAt: old?.createdAt ?? now,
    updatedAt: now,
  };
}
