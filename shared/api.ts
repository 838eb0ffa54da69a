// The manager's RPC API: method names, parameter schemas and result shapes shared by CLI and manager.
import type { NodeUsageView, TaskUsageView } from './usage.js';
import { z } from 'zod';
import type { RejectReason } from './reject-reasons.js';
import {
  fileRefSchema,
  healthcheckSchema,
  objectNameSchema,
  portSchema,
  serviceSpecSchema,
  type Availability,
  type NodeStatus,
  type PortSpec,
  type ServiceMode,
} from './spec.js';
import { optionsChangeSchema } from './task-options-change.js';
import { updateConfigSchema, type UpdateState } from './update-config.js';
import { MAX_SECRET_BYTES } from './sealing.js';
import { nodeLinkUpdateShape, type NodeLinkView } from './link-profile.js';
import { registryAuthSchema } from './registry-auth.js';
import { STACK_WRITE_METHODS, stackParams, type StackResults } from './api-stacks.js';
import { IMAGE_WRITE_METHODS, imageParams, type ImageResults } from './api-images.js';
import { RELEASE_WRITE_METHODS, releaseParams } from './api-releases.js';
import { UPGRADE_WRITE_METHODS, upgradeParams, type UpgradeResults } from './api-upgrades.js';
import { DASH_WRITE_METHODS, dashParams, type DashResults } from './api-dashboard.js';
import { bundleParams, type BundleResults } from './api-bundles.js';
import { eventParams, type EventResults } from './api-events.js';
import { chaosParams, type ChaosResults } from './api-chaos.js';

export type * from './api-stacks.js';
export type * from './api-images.js';
export type * from './api-releases.js';
export type * from './api-upgrades.js';
export type * from './api-dashboard.js';
export type * from './api-events.js';
export type * from './api-chaos.js';
export type * from './api-ports.js';
import type { PublishedPortView } from './api-ports.js';

const ref = z.string().min(1).max(128);

/** A secret's or config's value travels base64 in the request and is never echoed back. */
const createFile = z.object({
  name: objectNameSchema,
  data: z
    .string()
    .max(Math.ceil(MAX_SECRET_BYTES / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'data must be base64'),
  labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
});

export const params = {
  'cluster.info': z.object({}).default({}),
  'jointoken.get': z.object({
    role: z.enum(['worker', 'manager']),
    rotate: z.boolean().default(false),
  }),
  'node.ls': z.object({}).default({}),
  'node.inspect': z.object({ node: ref }),
  'node.update': z.object({
    node: ref,
    availability: z.enum(['active', 'pause', 'drain']).optional(),
    labelAdd: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
    labelRm: z.array(z.string().max(128)).default([]),
    ...nodeLinkUpdateShape,
  }),
  'node.rm': z.object({ node: ref, force: z.boolean().default(false) }),
  /** The tasks on the nodes named (every node when none is), as `fleet node ps` lists them. */
  'node.ps': z.object({ nodes: z.array(ref).max(256).default([]) }),
  'node.promote': z.object({ node: ref }),
  'node.demote': z.object({ node: ref }),
  'manager.ls': z.object({}).default({}),
  'service.create': z.object({
    spec: serviceSpecSchema,
    /** --with-registry-auth: kept encrypted, sealed to each node that pulls the image. */
    registryAuth: registryAuthSchema.optional(),
  }),
  'service.ls': z.object({}).default({}),
  'service.inspect': z.object({ service: ref }),
  'service.ps': z.object({ service: ref, all: z.boolean().default(true) }),
  'service.update': z.object({
    service: ref,
    replicas: z.number().int().min(0).max(10_000).optional(),
    image: z.string().min(1).max(512).optional(),
    command: z.array(z.string()).optional(),
    /** Replaces the entrypoint; an empty list returns to the image's own. */
    entrypoint: z.array(z.string()).optional(),
    envAdd: z.record(z.string(), z.string()).default({}),
    envRm: z.array(z.string()).default([]),
    constraintAdd: z.array(z.string()).default([]),
    constraintRm: z.array(z.string()).default([]),
    secretAdd: z.array(fileRefSchema).max(64).default([]),
    secretRm: z.array(z.string().max(128)).default([]),
    configAdd: z.array(fileRefSchema).max(64).default([]),
    configRm: z.array(z.string().max(128)).default([]),
    publishAdd: z.array(portSchema).max(64).default([]),
    /** PORT or PORT/PROTOCOL: published ports to withdraw. */
    publishRm: z.array(z.string().max(16)).max(64).default([]),
    /** Health check fields to change (see mergeHealthcheck). */
    healthcheck: healthcheckSchema.optional(),
    drainTimeoutMs: z.number().int().min(0).max(3_600_000).optional(),
    stopGracePeriodMs: z.number().int().min(0).optional(),
    init: z.boolean().optional(),
    /** Mounts, devices, limits, restart policy, labels, placement… (shared/task-options-change.ts). */
    options: optionsChangeSchema.optional(),
    /** Replace every task even when nothing changed (like docker service update --force). */
    force: z.boolean().default(false),
    /** --with-registry-auth: replaces the credentials kept for the service's registry. */
    registryAuth: registryAuthSchema.optional(),
    /** Update and rollback settings to change, field by field. */
    update: updateConfigSchema.optional(),
    rollback: updateConfigSchema.optional(),
  }),
  'service.rollback': z.object({ service: ref }),
  'service.promote': z.object({ service: ref }),
  'service.rm': z.object({ service: ref }),
  'secret.create': createFile,
  'secret.ls': z.object({}).default({}),
  'secret.inspect': z.object({ secret: ref }),
  'secret.rm': z.object({ secret: ref }),
  'config.create': createFile,
  'config.ls': z.object({}).default({}),
  'config.inspect': z.object({ config: ref }),
  'config.rm': z.object({ config: ref }),
  ...stackParams,
  ...imageParams,
  ...releaseParams,
  ...upgradeParams,
  ...dashParams,
  ...bundleParams,
  ...eventParams,
  ...chaosParams,
} as const;

export type Method = keyof typeof params;
export type Params<M extends Method> = z.input<(typeof params)[M]>;
export type ParsedParams<M extends Method> = z.output<(typeof params)[M]>;

export const isMethod = (m: string): m is Method => Object.prototype.hasOwnProperty.call(params, m);

/** Methods that change state: they carry an idempotency key and are applied once. */
export const WRITE_METHODS: ReadonlySet<Method> = new Set<Method>([
  'jointoken.get',
  'node.update',
  'node.rm',
  'node.promote',
  'node.demote',
  'service.create',
  'service.update',
  'service.rollback',
  'service.promote',
  'service.rm',
  'secret.create',
  'secret.rm',
  'config.create',
  'config.rm',
  ...STACK_WRITE_METHODS,
  ...IMAGE_WRITE_METHODS,
  ...RELEASE_WRITE_METHODS,
  ...UPGRADE_WRITE_METHODS,
  ...DASH_WRITE_METHODS,
]);

export interface NodeView extends NodeLinkView {
  id: string;
  name: string;
  role: 'manager' | 'worker';
  status: NodeStatus;
  statusMessage: string;
  availability: Availability;
  address: string;
  arch: string;
  os: string;
  labels: Record<string, string>;
  runtime: string;
  /** fleet's agent version, and its runtime's (Docker Engine's); '' until the agent reports. */
  agentVersion: string;
  engineVersion: string;
  /** The protocol its agent speaks; null until an agent that says reports. */
  protocolVersion: number | null;
  /** The Node.js version its agent runs on; null until an agent that says reports. */
  nodeVersion: string | null;
  /** Its part in the newest agent upgrade that names it, and what its agent last said. */
  upgrade: NodeUpgradeView | null;
  resources: { cpus: number; memoryBytes: number };
  /** Its agent runs tasks that use devices, privileges or kernel settings (--allow-devices). */
  allowDevices: boolean;
  tasks: number;
  /** The board's latest usage summary, when the leader holds a recent one. */
  usage?: NodeUsageView;
  /** Present on the nodes that run a manager process. */
  manager?: NodeManagerStatus;
  createdAt: string;
  updatedAt: string;
}

export interface NodeUpgradeView {
  /** The rollout's id and the release it moves to. */
  rollout: string;
  release: string;
  /** The version the node is asked to run; null while it waits for its turn. */
  target: string | null;
  /** Its state in the rollout: pending, upgrading, monitoring, done, failed or skipped. */
  state: string;
  reason: string | null;
  /** What its agent last reported of its own upgrade (idle, downloading, switching, failed). */
  agent: { state: string; version: string | null; reason: string | null } | null;
}

export interface NodeManagerStatus {
  address: string;
  leader: boolean;
  reachable: boolean;
  /** Its place in the Raft group: a voter, a learner (catching up, or demoted), or none yet. */
  raft: 'voter' | 'learner' | 'none';
}

/** One line of `fleet manager ls`. */
export interface ManagerView extends NodeManagerStatus {
  id: string;
  name: string;
  role: 'manager' | 'worker';
  /** The highest log index known to be on that manager (the answering leader's view). */
  appliedIndex: number | null;
}

export interface ServiceView {
  id: string;
  name: string;
  mode: ServiceMode;
  /**
   * Tasks running and wanted running now. Jobs add `completed` of `completions` (the
   * completions asked for, or the nodes a global job has a task for) in the current iteration.
   */
  replicas: { running: number; desired: number; completed?: number; completions?: number };
  image: string;
  ports: PortSpec[];
  /** The spec's labels (for --filter label=...); absent from managers that predate them. */
  labels?: Record<string, string>;
  /** The last update or rollback, absent when the service was never updated. */
  updateStatus?: UpdateStatusView;
}

/** Where a service's update stands, and why it stopped. */
export interface UpdateStatusView {
  kind: 'update' | 'rollback';
  state: UpdateState;
  message: string;
  startedAt: string;
  completedAt?: string;
  /** Tasks of the new spec that failed within their monitor period. */
  failedTasks: number;
  promoted: boolean;
}

export interface ServiceDetail extends ServiceView {
  spec: z.output<typeof serviceSpecSchema>;
  /** Every node answers these ports and forwards to the backends listed. */
  ingress: PublishedPortView[];
  specVersion: number;
  /** The digest every running task of the current spec version runs; null until they agree. */
  digest: string | null;
  /** Whether registry credentials are kept for the service (never their values). */
  withRegistryAuth: boolean;
  /** The spec a rollback returns to. */
  previousSpec?: z.output<typeof serviceSpecSchema>;
  /** Ids of the nodes its placement allows (up, not drained, matching its constraints). */
  eligibleNodes?: string[];
  createdAt: string;
  updatedAt: string;
}

export interface TaskView {
  /** The registry digest the task's board resolved the image to; null until it reports one. */
  digest: string | null;
  id: string;
  name: string;
  service: string;
  slot: number;
  image: string;
  specVersion: number;
  node: string | null;
  nodeName: string | null;
  desiredState: 'running' | 'shutdown';
  state: string;
  message: string;
  error: string | null;
  restarts: number;
  /** Why the node rejected the task, when its agent said. */
  reasonCode?: RejectReason;
  /** The health check's last verdict: 'none' without a check. */
  health: 'none' | 'starting' | 'healthy' | 'unhealthy';
  hostPorts: { target: number; protocol: string; hostIp: string; hostPort: number }[];
  updatedAt: string;
  /** CPU (cores), memory and network (bytes) as its node last summarised them, when recent. */
  usage?: TaskUsageView;
  /** A task of an older image whose node is downloading the service's new one (prefetch). */
  download?: {
    image: string;
    bytes: number;
    total: number;
    state: 'downloading' | 'loaded' | 'failed';
  };
}

/** Metadata of a secret; the value is never part of any answer. */
export interface SecretView {
  id: string;
  name: string;
  size: number;
  labels: Record<string, string>;
  /** Services whose spec uses it. */
  usedBy: string[];
  createdAt: string;
}

/** Like docker config inspect, a config's detail includes its value (base64): configs are not secret. */
export interface ConfigView extends SecretView {
  data?: string;
}

export interface ClusterInfo {
  clusterId: string;
  managerId: string;
  rootFingerprint: string;
  heartbeatMs: number;
}

type MoreResults = ImageResults &
  BundleResults &
  UpgradeResults &
  DashResults &
  EventResults &
  ChaosResults;
export interface Results extends StackResults<ServiceView, TaskView>, MoreResults {
  'cluster.info': ClusterInfo;
  'jointoken.get': { role: 'worker' | 'manager'; token: string };
  'node.ls': NodeView[];
  'node.inspect': NodeView;
  'node.update': NodeView;
  'node.rm': { id: string };
  'node.ps': TaskView[];
  'node.promote': NodeView;
  'node.demote': NodeView;
  'manager.ls': ManagerView[];
  'service.create': ServiceDetail;
  'service.ls': ServiceView[];
  'service.inspect': ServiceDetail;
  'service.ps': TaskView[];
  'service.update': ServiceDetail;
  'service.rollback': ServiceDetail;
  'service.promote': ServiceDetail;
  'service.rm': { id: string };
  'secret.create': SecretView;
  'secret.ls': SecretView[];
  'secret.inspect': SecretView;
  'secret.rm': { id: string };
  'config.create': ConfigView;
  'config.ls': ConfigView[];
  'config.inspect': ConfigView;
  'config.rm': { id: string };
}
