// The deploy: section (mode, replicas, placement, resources, restart policy, update and rollback) and the older keys that stand in for parts of it.
import type { z } from 'zod';
import {
  parseConstraint,
  type restartPolicySchema,
  type serviceSpecSchema,
  type UpdateConfig,
} from '../../../shared/spec.js';
import { keyValues, type MapContext } from './context.js';
import { parseComposeBytes } from './durations.js';
import { isMapping, type Mapping, type Value, text } from './locator.js';
import { duration, type TaskInput } from './map-process.js';

export type SpecInput = z.input<typeof serviceSpecSchema>;
type Placement = Pick<
  SpecInput,
  | 'mode'
  | 'replicas'
  | 'constraints'
  | 'maxReplicasPerNode'
  | 'placementPrefs'
  | 'labels'
  | 'update'
  | 'rollback'
>;

const MODES = ['replicated', 'global', 'replicated-job', 'global-job'] as const;

export function mapDeploy(
  ctx: MapContext,
  svc: Mapping,
  name: string,
): { spec: Placement; task: Partial<TaskInput> } {
  const d: Mapping = isMapping(svc.deploy) ? svc.deploy : {};
  const spec: Placement = { labels: keyValues(d.labels) };
  const where = `service "${name}"`;
  if (d.mode !== undefined) {
    if ((MODES as readonly Value[]).includes(d.mode)) spec.mode = d.mode as (typeof MODES)[number];
    else
      ctx.problem(
        d,
        'mode',
        `${where}: deploy.mode "${text(d.mode)}" is not one of ${MODES.join(', ')}`,
      );
  }
  const replicas =
    typeof d.replicas === 'number'
      ? d.replicas
      : typeof svc.scale === 'number'
        ? svc.scale
        : undefined;
  if (replicas !== undefined) {
    if (spec.mode === 'global' || spec.mode === 'global-job')
      ctx.problem(d, 'replicas', `${where}: deploy.replicas applies to replicated services only`);
    else if (replicas < 0)
      ctx.problem(d, 'replicas', `${where}: deploy.replicas must be 0 or more`);
    else spec.replicas = replicas;
  }
  if (d.endpoint_mode !== undefined && d.endpoint_mode !== 'vip')
    ctx.problem(
      d,
      'endpoint_mode',
      `${where}: deploy.endpoint_mode "${text(d.endpoint_mode)}" is not supported (fleet gives every service a virtual address: vip)`,
    );
  placement(ctx, d, spec, where);
  for (const kind of ['update_config', 'rollback_config'] as const) {
    const u = d[kind];
    if (isMapping(u))
      spec[kind === 'update_config' ? 'update' : 'rollback'] = updateConfig(ctx, u, kind, name);
  }
  const task: Partial<TaskInput> = { ...resources(ctx, svc, d, name) };
  const restart = restartPolicy(ctx, svc, d, name);
  if (restart) task.restart = restart;
  return { spec, task };
}

function placement(ctx: MapContext, d: Mapping, spec: Placement, where: string): void {
  const p = d.placement;
  if (!isMapping(p)) return;
  if (Array.isArray(p.constraints)) {
    const list = p.constraints;
    spec.constraints = [];
    list.forEach((c, i) => {
      const s = text(c);
      if (parseConstraint(s)) spec.constraints?.push(s);
      else {
        const key = /^\s*([A-Za-z0-9_.-]+)/.exec(s)?.[1] ?? s;
        const known =
          /^node\.(id|hostname|role|platform\.arch|platform\.os|labels\.[A-Za-z0-9_.-]+)$/.test(
            key,
          );
        const why = known
          ? 'write it as KEY==VALUE or KEY!=VALUE'
          : `fleet places by node.id, node.hostname, node.role, node.platform.arch, node.platform.os and node.labels.*, not ${key}`;
        ctx.problem(list, i, `${where}: placement constraint "${s}" is not supported: ${why}`);
      }
    });
  }
  if (Array.isArray(p.preferences)) {
    const list = p.preferences;
    spec.placementPrefs = [];
    list.forEach((pref, i) => {
      const spread = isMapping(pref) ? text(pref.spread ?? '') : '';
      if (/^node\.labels\.[A-Za-z0-9_.-]{1,128}$/.test(spread))
        spec.placementPrefs?.push({ spread });
      else
        ctx.problem(
          list,
          i,
          `${where}: placement preference spread "${spread}": fleet spreads over node.labels.KEY only`,
        );
    });
  }
  if (typeof p.max_replicas_per_node === 'number')
    spec.maxReplicasPerNode = p.max_replicas_per_node;
}

function updateConfig(ctx: MapContext, u: Mapping, kind: string, name: string): UpdateConfig {
  const out: UpdateConfig = {};
  if (typeof u.parallelism === 'number') out.parallelism = u.parallelism;
  const delay = duration(ctx, u, 'delay', name);
  if (delay !== undefined) out.delayMs = delay;
  const monitor = duration(ctx, u, 'monitor', name);
  if (monitor !== undefined) out.monitorMs = monitor;
  if (typeof u.max_failure_ratio === 'number') out.maxFailureRatio = u.max_failure_ratio;
  if (u.order === 'start-first' || u.order === 'stop-first') out.order = u.order;
  const action = u.failure_action;
  const allowed =
    kind === 'update_config' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
  if (action !== undefined) {
    if (allowed.includes(text(action)))
      out.failureAction = action as 'pause' | 'continue' | 'rollback';
    else
      ctx.problem(
        u,
        'failure_action',
        `service "${name}": ${kind}.failure_action "${text(action)}" is not one of ${allowed.join(', ')}`,
      );
  }
  return out;
}

/** deploy.resources first; the older cpus, mem_limit and mem_reservation keys when it says nothing. */
function resources(ctx: MapContext, svc: Mapping, d: Mapping, name: string): Partial<TaskInput> {
  const r = isMapping(d.resources) ? d.resources : {};
  const limits = isMapping(r.limits) ? r.limits : {};
  const reserve = isMapping(r.reservations) ? r.reservations : {};
  const cpu = (parent: Mapping, key: string): number | undefined => {
    const v = parent[key];
    if (v === undefined || v === null) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0)
      ctx.problem(
        parent,
        key,
        `service "${name}": cpus "${text(v)}" is not a number of cores such as 0.5`,
      );
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const bytes = (parent: Mapping, key: string): number | undefined => {
    const v: Value | undefined = parent[key];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' || typeof v === 'number' ? parseComposeBytes(v) : null;
    if (n === null)
      ctx.problem(parent, key, `service "${name}": memory "${text(v)}" is not a size such as 64M`);
    return n ?? undefined;
  };
  const out: Partial<TaskInput> = {};
  const limitCpu = cpu(limits, 'cpus') ?? cpu(svc, 'cpus');
  const limitMem = bytes(limits, 'memory') ?? bytes(svc, 'mem_limit');
  if (limitCpu !== undefined || limitMem !== undefined)
    out.limits = {
      ...(limitCpu !== undefined ? { cpu: limitCpu } : {}),
      ...(limitMem !== undefined ? { memoryBytes: limitMem } : {}),
    };
  const resCpu = cpu(reserve, 'cpus');
  const resMem = bytes(reserve, 'memory') ?? bytes(svc, 'mem_reservation');
  if (resCpu !== undefined || resMem !== undefined)
    out.resources = { cpu: resCpu ?? 0, memoryBytes: resMem ?? 0 };
  return out;
}

type RestartInput = z.input<typeof restartPolicySchema>;

/** deploy.restart_policy, else the service-level restart: key. */
function restartPolicy(
  ctx: MapContext,
  svc: Mapping,
  d: Mapping,
  name: string,
): RestartInput | undefined {
  const rp = d.restart_policy;
  if (isMapping(rp)) {
    const out: RestartInput = {};
    if (rp.condition !== undefined) {
      if (['none', 'on-failure', 'any'].includes(text(rp.condition)))
        out.condition = rp.condition as RestartInput['condition'];
      else
        ctx.problem(
          rp,
          'condition',
          `service "${name}": restart_policy.condition "${text(rp.condition)}" is not one of none, on-failure, any`,
        );
    }
    const delay = duration(ctx, rp, 'delay', name);
    if (delay !== undefined) out.delayMs = delay;
    const window = duration(ctx, rp, 'window', name);
    if (window !== undefined) out.windowMs = window;
    if (typeof rp.max_attempts === 'number') out.maxAttempts = rp.max_attempts;
    return out;
  }
  if (typeof svc.restart !== 'string') return undefined;
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(svc.restart);
  if (!m) {
    ctx.problem(
      svc,
      'restart',
      `service "${name}": restart "${svc.restart}" is not one of no, always, unless-stopped, on-failure[:N]`,
    );
    return undefined;
  }
  if (m[1] === 'no') return { condition: 'none' };
  if (m[1] === 'on-failure')
    return { condition: 'on-failure', ...(m[2] ? { maxAttempts: Number(m[2]) } : {}) };
  return { condition: 'any' };
}
