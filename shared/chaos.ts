// Fault orders for soak tests: what an admin may ask a board or manager to break, signed, bounded and undone by the target.
import { z } from 'zod';
import {
  CLOCK_SKEW_MS,
  certificateSchema,
  randomId,
  signText,
  verifyCertificate,
  verifyText,
  type Identity,
} from './identity.js';
import { PREFIX } from './protocol.js';

/**
 * Faults an agent carries out on itself (only when started with --allow-chaos). Each one ends
 * by itself after `durationMs`, and is undone when the agent stops:
 * - kill-agent: the agent drops its connection without a goodbye and forgets its memory; a new
 *   agent starts from the data dir after `durationMs`. Tasks keep running (as containers do).
 * - restart-agent: the same, with a clean disconnect first.
 * - restart-engine: the container engine is restarted (the agent's --chaos-engine-restart
 *   command); tasks restart with it.
 * - partition: the agent's link to the managers is cut, and kept cut, for `durationMs`.
 * - fill-disk: a file fills the data dir's filesystem up to `params.leaveBytes` free.
 * - skew-clock: the agent's clock runs `params.offsetMs` off.
 * - drop | delay | duplicate: that share (`params.rate`, 0..1) of the agent's outgoing
 *   messages is lost, held back `params.delayMs`, or sent twice.
 * - stats: no fault; the answer carries the process's RSS, open files and CPU time.
 */
export const AGENT_FAULTS = [
  'kill-agent',
  'restart-agent',
  'restart-engine',
  'partition',
  'fill-disk',
  'skew-clock',
  'drop',
  'delay',
  'duplicate',
  'stats',
] as const;

/**
 * Faults a manager carries out on itself (only with `manager start --allow-chaos`):
 * - kill-manager: the manager stops at once (no leadership transfer, connections cut) and
 *   starts again from its data dir after `durationMs`.
 * - restart-manager: a clean stop, then the same.
 * - partition-manager: Raft traffic to and from every other manager is cut for `durationMs`.
 * - stats: as for agents.
 */
export const MANAGER_FAULTS = [
  'kill-manager',
  'restart-manager',
  'partition-manager',
  'stats',
] as const;

export type AgentFault = (typeof AGENT_FAULTS)[number];
export type ManagerFault = (typeof MANAGER_FAULTS)[number];
export type Fault = AgentFault | ManagerFault;

/** No fault lasts longer than an hour: a lost soak leaves nothing broken for long. */
export const MAX_FAULT_MS = 3_600_000;

export const chaosOrderSchema = z.object({
  v: z.literal(1),
  /** Unique per order: a target carries out an id once. */
  id: z.string().min(8).max(64),
  /** Node id of the agent or manager that is to carry it out. */
  target: z.string().min(1).max(64),
  fault: z.enum([...AGENT_FAULTS, 'kill-manager', 'restart-manager', 'partition-manager']),
  durationMs: z.number().int().min(0).max(MAX_FAULT_MS),
  params: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  issuedAt: z.number(),
  /** The certificate of the admin identity that signed the order. */
  admin: certificateSchema,
});
export type ChaosOrder = z.infer<typeof chaosOrderSchema>;

/** The order as the admin signed it: its JSON text and the admin's signature over that text. */
export const signedChaosSchema = z.object({ order: z.string().max(16_384), sig: z.string() });
export type SignedChaos = z.infer<typeof signedChaosSchema>;

/** The stats every target reports (for a fault, the stats at the time it was carried out). */
export interface ProcessStats {
  pid: number;
  rssBytes: number;
  heapUsedBytes: number;
  openFiles: number;
  /** User + system CPU time of the process since it started, in ms. */
  cpuMs: number;
  /** The target's own clock, ms since the epoch (skewed when skew-clock is on). */
  now: number;
  /** Task ids the target's runtime is running now (agents only). */
  running?: string[];
  /** Faults in force now. */
  active: { fault: Fault; until: number }[];
}

export const chaosResultSchema = z.object({
  id: z.string(),
  ok: z.boolean(),
  /** Why it was refused or failed: e.g. "chaos not allowed: start the agent with --allow-chaos". */
  error: z.string().optional(),
  /** When the fault ends (target's clock); absent for stats. */
  until: z.number().optional(),
  stats: z
    .object({
      pid: z.number(),
      rssBytes: z.number(),
      heapUsedBytes: z.number(),
      openFiles: z.number(),
      cpuMs: z.number(),
      now: z.number(),
      running: z.array(z.string()).optional(),
      active: z.array(z.object({ fault: z.string(), until: z.number() })),
      /** A leading manager's heartbeat lag over its ready nodes, in ms (median and largest). */
      lag: z.object({ p50: z.number(), max: z.number() }).optional(),
    })
    .optional(),
});
export type ChaosResult = z.infer<typeof chaosResultSchema>;

export const chaosTopics = {
  /** A manager hands a signed order to one agent (QoS 1, not retained). */
  order: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/chaos`,
  /** The agent's answer to an order. */
  result: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/chaos-result`,
};

/** Signs an order with an admin identity. */
export function signChaos(
  admin: Identity,
  o: Pick<ChaosOrder, 'target' | 'fault' | 'durationMs'> & {
    params?: ChaosOrder['params'];
  },
  now: number,
): SignedChaos {
  const order: ChaosOrder = {
    v: 1,
    id: randomId(12),
    target: o.target,
    fault: o.fault,
    durationMs: o.durationMs,
    params: o.params ?? {},
    issuedAt: now,
    admin: admin.cert,
  };
  const text = JSON.stringify(order);
  return { order: text, sig: signText(text, admin.keys.sign.secretKey) };
}

export type ChaosCheck = { ok: true; order: ChaosOrder } | { ok: false; reason: string };

/**
 * Checks an order for `self`: the certificate chains to the cluster root and names an admin,
 * the admin's key signed the text, it names this target, and it is fresh.
 */
export function verifyChaos(
  signed: SignedChaos,
  rootPub: string,
  self: string,
  now: number,
): ChaosCheck {
  let raw: unknown;
  try {
    raw = JSON.parse(signed.order);
  } catch {
    return { ok: false, reason: 'order is not JSON' };
  }
  const parsed = chaosOrderSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'order has the wrong shape' };
  const order = parsed.data;
  const cert = verifyCertificate(order.admin, rootPub, now);
  if (!cert.ok) return { ok: false, reason: cert.reason };
  if (cert.body.role !== 'admin') return { ok: false, reason: 'only an admin may order faults' };
  if (!verifyText(signed.order, signed.sig, cert.body.signPub))
    return { ok: false, reason: 'bad order signature' };
  if (order.target !== self) return { ok: false, reason: `order is for ${order.target}` };
  if (Math.abs(order.issuedAt - now) > CLOCK_SKEW_MS)
    return { ok: false, reason: 'order is too old or from the future' };
  return { ok: true, order };
}
