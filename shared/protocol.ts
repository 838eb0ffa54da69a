// The wire protocol: topic names and the versioned JSON envelopes that travel on them.
import { z } from 'zod';
import { certificateSchema } from './identity.js';
import { REJECT_REASONS } from './reject-reasons.js';
import { DIGEST_RE } from './image-ref.js';
import { assignedImageSchema, imageReportSchema } from './images/cluster-image.js';
import { taskTemplateSchema, TASK_STATES } from './spec.js';
import { bundleReportSchema } from './bundle/report.js';
import {
  agentReleaseSchema,
  nodeVersionSchema,
  upgradeReportSchema,
} from './ota/upgrade-protocol.js';
import { assignmentLinkSchema, linkProfileSchema } from './link-profile.js';

export const PREFIX = 'fleet/v1';

export const topics = {
  heartbeat: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/hb`,
  status: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/status`,
  assignments: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/assignments`,
  will: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/will`,
  rpc: (managerId: string) => `${PREFIX}/rpc/${managerId}`,
  rpcReply: (clientId: string) => `${PREFIX}/rpc-reply/${clientId}`,
  join: (clientId: string) => `${PREFIX}/join/${clientId}`,
  joinReply: (clientId: string) => `${PREFIX}/join-reply/${clientId}`,
  ingressTable: () => `${PREFIX}/ingress/table`,
  /** Retained: every cluster network's services and their backends (shared/network.ts). */
  discoveryTable: () => `${PREFIX}/discovery/table`,
  /** An agent's routing-mesh counters: ephemeral, never retained or written to the store. */
  ingressStats: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/ingress`,
  renew: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/renew`,
  renewReply: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/renewed`,
  /** The manager's word to one agent it will not serve (shared/protocol-version.ts, noticeSchema). */
  notice: (nodeId: string) => `${PREFIX}/nodes/${nodeId}/notice`,
  /** Raft messages for one manager, published on that manager's own broker by its peers. */
  raft: (managerId: string) => `${PREFIX}/raft/${managerId}`,
  /** Chunks of a Raft snapshot for one manager: too large for one message. */
  raftSnap: (managerId: string) => `${PREFIX}/raft/${managerId}/snap`,
  /** Retained on every manager's broker: who leads, and where every manager listens. */
  leader: () => `${PREFIX}/leader`,
};

/** The RPC address every manager answers on behalf of the cluster. */
export const RPC_ANY = 'any';

/** Largest payload the manager reads on any topic; larger ones are dropped with a logged reason. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/**
 * Largest batch of Raft messages between managers: one append may carry entries up to the core's
 * maxSizePerMsg, and entry data (JSON in JSON) grows when escaped. Snapshot chunks stay under
 * MAX_PAYLOAD_BYTES on their own topic.
 */
export const RAFT_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;

export const platformSchema = z.object({
  os: z.string().max(32),
  arch: z.string().max(32),
});

export const resourcesSchema = z.object({
  cpus: z.number().min(0).max(4096),
  memoryBytes: z.number().min(0),
});

export { heartbeatSchema, type Heartbeat } from './heartbeat.js';

export const hostPortSchema = z.object({
  target: z.number().int(),
  protocol: z.enum(['tcp', 'udp']),
  hostIp: z.string().max(64),
  hostPort: z.number().int(),
});

export const taskReportSchema = z.object({
  taskId: z.string().max(64),
  state: z.enum(TASK_STATES),
  message: z.string().max(1024).default(''),
  error: z.string().max(4096).nullable().default(null),
  exitCode: z.number().int().nullable().default(null),
  hostPorts: z.array(hostPortSchema).max(64).default([]),
  runtimeId: z.string().max(128).nullable().default(null),
  restarts: z.number().int().min(0).default(0),
  at: z.number(),
  health: z.enum(['none', 'starting', 'healthy', 'unhealthy']).default('none'),
  /** Why a rejected task was refused, when the agent knows (older agents send none). */
  reasonCode: z.enum(REJECT_REASONS).optional(),
  /** The registry digest of the image the task runs, as the board resolved its tag. */
  digest: z.string().regex(DIGEST_RE).optional(),
});
export type TaskReport = z.infer<typeof taskReportSchema>;

/** The agent's full picture of its tasks; sent on every change and on (re)connect. */
export const statusSchema = z.object({
  v: z.literal(1),
  ts: z.number(),
  assignmentVersion: z.number().int().min(0),
  tasks: z.array(taskReportSchema).max(1000),
  node: z
    .object({
      resources: resourcesSchema,
      platform: platformSchema,
      runtime: z.enum(['docker', 'process', 'fake']),
      address: z.string().max(64),
      agentVersion: z.string().max(80),
      /** The agent's protocol (shared/protocol-version.ts); absent from agents that predate it: 1. */
      protocolVersion: z.number().int().min(0).max(1_000_000).optional(),
      /** The runtime's own version (Docker Engine's, or Node's for the process runtime). */
      engineVersion: z.string().max(64).optional(),
      diskFull: z.boolean().default(false),
      /** Started with --allow-devices: tasks may use devices, privileges and kernel settings. */
      allowDevices: z.boolean().optional(),
      /** The Node.js version the agent runs on (checked against a release's nodeMin). */
      nodeVersion: nodeVersionSchema.optional(),
      /** Where the agent's own upgrade stands (the contract: shared/ota/upgrade-protocol.ts). */
      upgrade: upgradeReportSchema.optional(),
      profile: linkProfileSchema.optional(),
      /** 1: applies assignment deltas (shared/assignment-delta.ts); absent: full sets only. */
      assignmentDeltas: z.literal(1).optional(),
    })
    .optional(),
  /** Cluster images this node holds or is fetching (absent: unchanged since the last status). */
  images: z.array(imageReportSchema).max(256).optional(),
  /** HOST:PORT where this node serves the blobs it holds to its neighbours. */
  blobServer: z.string().max(300).optional(),
  bundle: bundleReportSchema.optional(),
});
export type StatusMessage = z.infer<typeof statusSchema>;

export const assignedTaskSchema = z.object({
  id: z.string(),
  serviceId: z.string(),
  serviceName: z.string(),
  slot: z.number().int().min(0),
  template: taskTemplateSchema,
  notBefore: z.number().default(0),
  /** The service's spec version: a tag is pulled again once per version (see docs/images.md). */
  specVersion: z.number().int().min(0).optional(),
  /** The digest another task of this spec version resolved the tag to: every board runs it. */
  pinnedDigest: z.string().regex(DIGEST_RE).optional(),
  /** Credentials for the image's registry (JSON), sealed to this node's box key. */
  registryAuth: z.string().max(20_000).optional(),
  /** Values of the secrets the template names, each sealed to this node's box key. */
  secrets: z
    .array(z.object({ name: z.string().max(64), sealed: z.string().max(100_000) }))
    .optional(),
  /** Values of the configs the template names, base64; configs are not secret. */
  configs: z
    .array(z.object({ name: z.string().max(64), data: z.string().max(100_000) }))
    .optional(),
  /** The image as the cluster stores it, for this node's platform: fetched from managers and peers. */
  clusterImage: assignedImageSchema.optional(),
  /**
   * Why the cluster, which stores the image, has no copy for this node (no platform of its
   * own): the task fails, or with the template's registryFallback is pulled from the registry.
   */
  clusterImageMissing: z.string().max(512).optional(),
});
export type AssignedTask = z.infer<typeof assignedTaskSchema>;

/** The node's full desired set, retained on its topic; version only grows. */
export const assignmentSchema = z.object({
  v: z.literal(1),
  version: z.number().int().min(0),
  nodeId: z.string(),
  heartbeatMs: z.number().int().min(100),
  /** How often the manager wants a usage summary with the heartbeat; absent or 0: never. */
  statsMs: z.number().int().min(0).max(86_400_000).optional(),
  /** Summaries may come in the compact form (shared/usage-compact.ts): this manager reads it. */
  statsCompact: z.boolean().optional(),
  tasks: z.array(assignedTaskSchema),
  /** Images to download now for a rolling update that will replace this node's tasks. */
  prefetch: z.array(assignedImageSchema).max(64).optional(),
  /** The agent release this node should run, while it runs another (shared/ota/upgrade-protocol.ts). */
  agentRelease: agentReleaseSchema.optional(),
  link: assignmentLinkSchema.optional(),
  adoptedBundle: z.string().max(64).optional(),
});
export type Assignment = z.infer<typeof assignmentSchema>;

export const joinRequestSchema = z.object({
  v: z.literal(1),
  token: z.string().max(200),
  name: z.string().min(1).max(64),
  signPub: z.string().max(100),
  boxPub: z.string().max(100),
  address: z.string().max(64),
  platform: platformSchema,
  labels: z.record(z.string().max(128), z.string().max(256)).default({}),
  /** Signature by the new signing key over the token, proving possession of the key. */
  sig: z.string().max(200),
  /** Set when a manager process joins: where its broker listens for the other managers. */
  manager: z.object({ address: z.string().max(300) }).optional(),
});
export type JoinRequest = z.infer<typeof joinRequestSchema>;

export const joinReplySchema = z.union([
  z.object({
    v: z.literal(1),
    ok: z.literal(true),
    nodeId: z.string(),
    role: z.enum(['worker', 'manager']),
    cert: certificateSchema,
    rootPub: z.string(),
    /** To a joining manager: the cluster's keys, sealed to its box key (see api/join.ts). */
    managerBundle: z.string().max(20_000).optional(),
  }),
  z.object({
    v: z.literal(1),
    ok: z.literal(false),
    error: z.string(),
    /** From a follower: the leader's HOST:PORT, where the join should go instead. */
    leader: z.string().max(300).optional(),
  }),
]);
export type JoinReply = z.infer<typeof joinReplySchema>;

/** A node asks for a fresh certificate for the key it holds, proved by signing renewText. */
export const renewRequestSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1).max(64),
  ts: z.number(),
  nonce: z.string().min(8).max(64),
  sig: z.string().max(200),
});
export type RenewRequest = z.infer<typeof renewRequestSchema>;

export const renewText = (nodeId: string, ts: number, nonce: string): string =>
  `fleet-renew|${nodeId}|${ts}|${nonce}`;

export const renewReplySchema = z.union([
  z.object({ v: z.literal(1), id: z.string(), ok: z.literal(true), cert: certificateSchema }),
  z.object({ v: z.literal(1), id: z.string(), ok: z.literal(false), error: z.string() }),
]);
export type RenewReply = z.infer<typeof renewReplySchema>;

export const rpcRequestSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1).max(64),
  method: z.string().min(1).max(64),
  params: z.unknown(),
  idempotencyKey: z.string().max(64).optional(),
  /** Read without the leader's quorum check: any manager answers from its own copy. */
  stale: z.boolean().optional(),
});
export type RpcRequest = z.infer<typeof rpcRequestSchema>;

export const managerAddressSchema = z.object({
  id: z.string().max(64),
  address: z.string().max(300),
});
export type ManagerAddress = z.infer<typeof managerAddressSchema>;

/**
 * What a manager knows of the leadership, retained on its broker's leader topic and attached to
 * 'not_leader' and 'no_quorum' RPC errors: clients move to `leader` and remember `managers`.
 */
export const leaderInfoSchema = z.object({
  v: z.literal(1),
  /** The manager publishing this. */
  from: z.string().max(64),
  term: z.number().int().min(0),
  /** null while an election runs or without quorum. */
  leader: managerAddressSchema.nullable(),
  managers: z.array(managerAddressSchema).max(64),
});
export type LeaderInfo = z.infer<typeof leaderInfoSchema>;

export const rpcResponseSchema = z.union([
  z.object({
    v: z.literal(1),
    id: z.string(),
    ok: z.literal(true),
    result: z.unknown(),
    /** Set on a read served from a manager's local copy without a quorum check. */
    stale: z.boolean().optional(),
    /** Why the answer may be stale (e.g. "no quorum: 1 of 3 managers reachable"). */
    warning: z.string().max(1024).optional(),
  }),
  z.object({
    v: z.literal(1),
    id: z.string(),
    ok: z.literal(false),
    error: z.object({
      code: z.string(),
      message: z.string(),
      /** With 'not_leader': where to send the request instead. */
      leader: leaderInfoSchema.optional(),
    }),
  }),
]);
export type RpcResponse = z.infer<typeof rpcResponseSchema>;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Parses and validates a payload; never throws. The reason is short enough for a log line.
 * maxBytes defaults to the cap on what a manager reads from agents and clients.
 */
export function decode<T>(
  schema: z.ZodType<T>,
  payload: Buffer | Uint8Array | string,
  maxBytes = MAX_PAYLOAD_BYTES,
): Decoded<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > maxBytes) {
    return { ok: false, reason: `payload of ${size} bytes exceeds the ${maxBytes} byte cap` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch {
    return { ok: false, reason: 'payload is not valid JSON' };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first?.path.length ? first.path.join('.') + ': ' : '';
    return { ok: false, reason: `schema mismatch: ${where}${first?.message ?? 'invalid'}` };
  }
  return { ok: true, value: r.data };
}

export const encode = (msg: unknown): Buffer => Buffer.from(JSON.stringify(msg));

/** Where one task of a published port can be reached: its node's address and the host port. */
export const ingressBackendSchema = z.object({
  taskId: z.string().max(64),
  nodeId: z.string().max(64),
  host: z.string().max(64),
  port: z.number().int().min(1).max(65535),
});
export type IngressBackend = z.infer<typeof ingressBackendSchema>;

/** The routing mesh's table: for every ingress port, the tasks that may take its traffic. */
export const ingressTableSchema = z.object({
  v: z.literal(1),
  /** The Raft index it was computed at: only grows, so an agent can ignore an older table. */
  version: z.number().int().min(0),
  ports: z
    .array(
      z.object({
        published: z.number().int().min(1).max(65535),
        protocol: z.enum(['tcp', 'udp']),
        service: z.string().max(64),
        target: z.number().int().min(1).max(65535),
        proxy: z.enum(['v1', 'v2']).optional(),
        /** How long forwarders keep connections to a task that left the table. */
        drainMs: z.number().int().min(0).max(7_200_000).optional(),
        backends: z.array(ingressBackendSchema).max(10_000),
      }),
    )
    .max(1000),
});
export type IngressTable = z.infer<typeof ingressTableSchema>;

/** Largest ingress stats report; the agent trims its report to fit (see agent/ingress/report.ts). */
export const INGRESS_STATS_MAX_BYTES = 96 * 1024;

const counter = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** One task's share of a published port's traffic on the reporting node. */
export const ingressBackendStatsSchema = z.object({
  taskId: z.string().max(64),
  active: counter,
  total: counter,
  errors: counter,
});

/** A node's counters for one published port, since its forwarder opened. */
export const ingressPortStatsSchema = z.object({
  published: z.number().int().min(1).max(65535),
  protocol: z.enum(['tcp', 'udp']),
  /** Open connections (TCP) or flows (UDP). */
  active: counter,
  /** Connections or flows accepted. */
  total: counter,
  /** Forwardings that failed for the client: no backend, every backend failed, reset mid-stream. */
  errors: counter,
  /** Backend connects that failed (refused, unreachable, timed out), failed over or not. */
  connectErrors: counter,
  /** Bytes from clients to backends, and back. */
  bytesIn: counter,
  bytesOut: counter,
  backends: z.array(ingressBackendStatsSchema).max(1000),
  /** Some backends were left out to keep the report small. */
  truncated: z.boolean().optional(),
});
export type IngressPortStats = z.infer<typeof ingressPortStatsSchema>;

/** An agent's routing-mesh counters, sent every few seconds while they change. */
export const ingressStatsSchema = z.object({
  v: z.literal(1),
  ts: z.number(),
  ports: z.array(ingressPortStatsSchema).max(1000),
});
export type IngressStatsReport = z.infer<typeof ingressStatsSchema>;
