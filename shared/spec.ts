// Service specs, tasks and nodes: the cluster's objects, with schemas for every edge that reads them.
import { z } from 'zod';
import type { RejectReason } from './reject-reasons.js';
import type { UpgradeReport } from './ota/upgrade-protocol.js';
import type { LinkProfile } from './link-profile.js';
import { exposedPortSchema, networkAttachmentSchema } from './network.js';
import { placementShape, taskOptionsShape } from './task-options.js';
import { updateConfigSchema, type UpdateStatus } from './update-config.js';

export * from './task-options.js';
export * from './update-config.js';

export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'starting',
  'running',
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

const RANK: Record<TaskState, number> = Object.fromEntries(
  TASK_STATES.map((s, i) => [s, i]),
) as Record<TaskState, number>;

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
]);

export const isTerminal = (s: TaskState): boolean => TERMINAL_STATES.has(s);

/** Task states only move forward; a terminal state is final. */
export function canAdvance(from: TaskState, to: TaskState): boolean {
  if (isTerminal(from)) return false;
  return RANK[to] > RANK[from];
}

export const portSchema = z.object({
  target: z.number().int().min(1).max(65535),
  published: z.number().int().min(1).max(65535).optional(),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  mode: z.enum(['ingress', 'host']).default('ingress'),
  /** Send a PROXY protocol header to the task so it sees the client's address (ingress mode). */
  proxy: z.enum(['v1', 'v2']).optional(),
});
export type PortSpec = z.infer<typeof portSchema>;

export const restartPolicySchema = z.object({
  condition: z.enum(['none', 'on-failure', 'any']).default('any'),
  delayMs: z.number().int().min(0).default(5000),
  maxAttempts: z.number().int().min(0).default(0), // 0 = unlimited
  windowMs: z.number().int().min(0).default(0), // 0 = unbounded
});
export type RestartPolicy = z.infer<typeof restartPolicySchema>;

const constraintRe =
  /^\s*(node\.(?:id|hostname|role|platform\.arch|platform\.os|labels\.[A-Za-z0-9_.-]+))\s*(==|!=)\s*(\S.*?)\s*$/;

export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

/** Longer constraints are refused before the regex, whose time grows with the square of the length. */
export const MAX_CONSTRAINT_LENGTH = 1024;

export function parseConstraint(text: string): Constraint | null {
  if (text.length > MAX_CONSTRAINT_LENGTH) return null;
  const m = constraintRe.exec(text);
  if (!m || !m[1] || !m[2] || m[3] === undefined) return null;
  return { key: m[1], op: m[2] as '==' | '!=', value: m[3] };
}

/** Names of secrets and configs: like Docker's, letters, digits, "_", "-" and "." (64 at most). */
export const objectNameSchema = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/, 'names use letters, digits, "_", "-" and "."');

/** Where a secret or config appears in the task: an absolute path without "..". */
export const fileTargetSchema = z
  .string()
  .max(256)
  .refine(
    (t) => t.startsWith('/') && t !== '/' && !t.split('/').includes('..') && !/[\0,:]/.test(t),
    'targets are absolute paths without "..", "," or ":"',
  );

/** A task's use of a secret or config by name, and the path it is mounted at. */
export const fileRefSchema = z.object({ name: objectNameSchema, target: fileTargetSchema });
export type FileRef = z.infer<typeof fileRefSchema>;

/**
 * A task's health check, run by the runtime inside the task. Absent fields keep the image's own
 * HEALTHCHECK (or Docker's defaults); test ['NONE'] turns every check off, the image's too.
 */
export const healthcheckSchema = z.object({
  /** ['CMD-SHELL', 'command'], ['CMD', 'arg', ...] or ['NONE']. */
  test: z
    .array(z.string().max(4096))
    .min(1)
    .max(256)
    .refine(
      (t) => ['CMD-SHELL', 'CMD', 'NONE'].includes(t[0] ?? ''),
      'starts with CMD-SHELL, CMD or NONE',
    )
    .optional(),
  intervalMs: z.number().int().min(1).optional(),
  timeoutMs: z.number().int().min(1).optional(),
  retries: z.number().int().min(0).max(1000).optional(),
  startPeriodMs: z.number().int().min(0).optional(),
});
export type Healthcheck = z.infer<typeof healthcheckSchema>;

/**
 * A service's health check after an update: given fields replace the old ones; a new command
 * keeps the old timings, and turning checks off ('NONE') drops them.
 */
export function mergeHealthcheck(
  old: Healthcheck | undefined,
  change: Healthcheck | undefined,
): Healthcheck | undefined {
  if (!change) return old;
  if (change.test?.[0] === 'NONE') return change;
  const base = old?.test?.[0] === 'NONE' ? {} : (old ?? {});
  return { ...base, ...change };
}

/** How a running task's health check reads: 'none' when it has none. */
export type TaskHealth = 'none' | 'starting' | 'healthy' | 'unhealthy';

/** How long a stopping task may keep serving the connections it has, unless set (10 s). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/**
 * What the task runs besides its command: `entrypoint` replaces the image's (Docker's
 * --entrypoint); absent, the image's own is kept. The process runtime runs entrypoint + command.
 */
const taskEntrypointFields = {
  entrypoint: z.array(z.string().max(4096)).max(256).optional(),
};

export const taskTemplateSchema = z.object({
  image: z.string().min(1).max(512),
  command: z.array(z.string().max(4096)).max(256).default([]),
  ...taskEntrypointFields,
  env: z.record(z.string(), z.string().max(65536)).default({}),
  ports: z.array(portSchema).max(64).default([]),
  restart: restartPolicySchema.default(restartPolicySchema.parse({})),
  resources: z
    .object({
      cpu: z.number().min(0).default(0), // cores
      memoryBytes: z.number().int().min(0).default(0),
    })
    .default({ cpu: 0, memoryBytes: 0 }),
  stopGracePeriodMs: z.number().int().min(0).default(10_000),
  healthcheck: healthcheckSchema.optional(),
  /**
   * Before a task with published ports is stopped it leaves the routing table, then keeps its
   * open connections this long at most (default DEFAULT_DRAIN_TIMEOUT_MS).
   */
  drainTimeoutMs: z.number().int().min(0).max(3_600_000).optional(),
  /**
   * Run a small init (Docker's docker-init) as the task's PID 1: it passes signals on and reaps
   * zombies, so a program without a SIGTERM handler still stops at once. Off unless set, as in
   * Docker.
   */
  init: z.boolean().optional(),
  secrets: z.array(fileRefSchema).max(64).default([]),
  configs: z.array(fileRefSchema).max(64).default([]),
  // Mounts, devices, limits and the other host settings (shared/task-options.ts).
  ...taskOptionsShape,
  /** Cluster networks the task joins; its service is found by name there (shared/network.ts). */
  networks: z.array(networkAttachmentSchema).max(16).optional(),
  /** Ports reachable by name on those networks without being published (Compose's expose). */
  expose: z.array(exposedPortSchema).max(64).optional(),
});
export type TaskTemplate = z.infer<typeof taskTemplateSchema>;

/** Replicated and global services keep tasks running; jobs run their tasks to completion. */
export const SERVICE_MODES = ['replicated', 'global', 'replicated-job', 'global-job'] as const;
export type ServiceMode = (typeof SERVICE_MODES)[number];
export const isJobMode = (m: ServiceMode): boolean => m === 'replicated-job' || m === 'global-job';
/** One task per eligible node rather than numbered slots. */
export const isPerNodeMode = (m: ServiceMode): boolean => m === 'global' || m === 'global-job';

export const DEPENDENCY_CONDITIONS = [
  'service_started',
  'service_healthy',
  'service_completed_successfully',
] as const;
export type DependencyCondition = (typeof DEPENDENCY_CONDITIONS)[number];

export const dependencySchema = z.object({
  /** The full service name (myapp_rabbit). */
  service: z.string().min(1).max(64),
  condition: z.enum(DEPENDENCY_CONDITIONS).default('service_started'),
});
export type Dependency = z.infer<typeof dependencySchema>;

export const serviceSpecSchema = z.object({
  name: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$/, 'service names use letters, digits, "-" and "_"'),
  mode: z.enum(SERVICE_MODES).default('replicated'),
  /** Tasks of a replicated service; for a replicated job, the completions it needs. */
  replicas: z.number().int().min(0).max(10_000).default(1),
  /** A replicated job's tasks running at once; absent or 0: as many as its completions. */
  maxConcurrent: z.number().int().min(0).max(10_000).optional(),
  task: taskTemplateSchema,
  constraints: z
    .array(z.string().refine((c) => parseConstraint(c) !== null, 'bad constraint'))
    .max(64)
    .default([]),
  maxReplicasPerNode: z.number().int().min(0).default(0), // 0 = no limit
  labels: z.record(z.string(), z.string()).default({}),
  // --placement-pref (shared/task-options.ts).
  ...placementShape,
  /**
   * Services whose state this one's tasks wait for before they start (Compose's depends_on):
   * started (every task running), healthy (and passing its health check) or completed (a job
   * whose tasks all exited 0).
   */
  dependsOn: z.array(dependencySchema).max(64).optional(),
  update: updateConfigSchema.optional(),
  rollback: updateConfigSchema
    .refine((r) => r.failureAction !== 'rollback', 'a rollback fails with pause or continue')
    .refine((r) => !r.canary && !r.canaryPercent && !r.autoPromote, 'rollbacks have no canaries')
    .optional(),
});
export type ServiceSpec = z.infer<typeof serviceSpecSchema>;

export interface ServiceRecord {
  id: string;
  spec: ServiceSpec;
  /** Bumped when the task template or placement changes, so tasks can tell they are outdated. */
  specVersion: number;
  /** The spec before the last update, which a rollback returns to, and its version. */
  previousSpec?: ServiceSpec;
  previousSpecVersion?: number;
  /** The highest spec version ever given out (a rollback reuses an older one). */
  lastSpecVersion?: number;
  /** The last update or rollback, while it runs and after it ended. */
  updateStatus?: UpdateStatus;
  /** Credentials for the image's registry (--with-registry-auth), encrypted with the data key. */
  registryAuth?: string;
  createdAt: number;
  updatedAt: number;
  /** Raft index of the last write (set by the store); a write based on an older one is refused. */
  version?: number;
}

export interface TaskStatus {
  state: TaskState;
  message: string;
  error: string | null;
  exitCode: number | null;
  hostPorts: HostPort[];
  runtimeId: string | null;
  restarts: number;
  at: number;
  /** The task's health check as last reported; absent means no check ('none'). */
  health?: TaskHealth;
  /** Since when the task has been running and healthy (or without a check); absent otherwise. */
  readyAt?: number;
  /** Why the node refused the task, when it was rejected and the agent said. */
  reasonCode?: RejectReason;
  /** The registry digest of the image the task runs, as its board resolved the tag. */
  digest?: string;
}

export interface HostPort {
  target: number;
  protocol: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
}

export interface TaskRecord {
  id: string;
  serviceId: string;
  serviceName: string;
  slot: number; // 0 for global tasks
  nodeId: string | null;
  desiredState: 'running' | 'shutdown';
  specVersion: number;
  template: TaskTemplate;
  status: TaskStatus;
  /** The agent waits until this time before starting (restart delay). */
  notBefore: number;
  /** When earlier tasks of this slot were restarted, for --restart-max-attempts within a window. */
  restartHistory: number[];
  createdAt: number;
  updatedAt: number;
  /** Raft index of the last write (set by the store); a write based on an older one is refused. */
  version?: number;
}

export type NodeStatus = 'ready' | 'down' | 'unknown';
export type Availability = 'active' | 'pause' | 'drain';

export interface NodeResources {
  cpus: number;
  memoryBytes: number;
}

export interface NodeRecord {
  id: string;
  name: string;
  role: 'worker' | 'manager';
  status: NodeStatus;
  statusMessage: string;
  availability: Availability;
  address: string;
  arch: string;
  os: string;
  labels: Record<string, string>;
  resources: NodeResources;
  runtime: 'docker' | 'process' | 'fake';
  signPub: string;
  boxPub: string;
  certSerial: string;
  /**
   * The serial a renewal replaced: still accepted until that certificate expires, so a node whose
   * renewal reply was lost (or not yet saved) is not locked out.
   */
  prevCertSerial?: string;
  agentVersion: string;
  /** The protocol its agent speaks (shared/protocol-version.ts); absent until an agent that says reports. */
  protocolVersion?: number;
  /** The agent runs tasks that use devices, privileges or kernel settings (--allow-devices). */
  allowDevices?: boolean;
  /** The version its runtime reports (Docker Engine's); absent until the agent says. */
  engineVersion?: string;
  /** The Node.js version its agent runs on, when the agent says. */
  nodeVersion?: string;
  /** Where its agent's own upgrade stands, as the agent last reported (shared/ota/upgrade-protocol.ts). */
  agentUpgrade?: UpgradeReport;
  /** Set by `fleet node update --profile`: wins over what the agent announced. */
  profile?: LinkProfile;
  /** The profile its agent was started with (`agent start --profile`), as it reported. */
  announcedProfile?: LinkProfile;
  /** The MQTT keepalive of a metered node (`fleet node update --keepalive`); default 20 min. */
  keepaliveS?: number;
  /**
   * Set on the record of a manager process: where its broker listens, and whether an agent runs
   * beside it on the same board with the same identity (then the node takes tasks).
   */
  manager?: { address: string; worker?: boolean };
  /** The newest offline bundle its agent reported, once adopted (manager/dispatcher/bundle-adoption.ts). */
  bundle?: { id: string; sequence: number; adopted: string[] };
  createdAt: number;
  updatedAt: number;
  /** Raft index of the last write (set by the store); a write based on an older one is refused. */
  version?: number;
}

/** Whether tasks may be placed on the node: every agent, and managers that run one beside them. */
export const takesTasks = (n: Pick<NodeRecord, 'manager'>): boolean =>
  !n.manager || n.manager.worker === true;

export const taskName = (t: Pick<TaskRecord, 'serviceName' | 'slot' | 'nodeId'>): string =>
  t.slot > 0 ? `${t.serviceName}.${t.slot}` : `${t.serviceName}.${t.nodeId ?? 'unassigned'}`;

/** Parses Go-style short durations used on the command line: 500ms, 5s, 2m, 1h; a bare number is seconds. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m || !m[1]) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

/** Parses memory sizes: 64M, 1.5G, 512k, or bytes. */
export function parseBytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?$/.exec(text.trim());
  if (!m || !m[1]) return null;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * mult);
}
