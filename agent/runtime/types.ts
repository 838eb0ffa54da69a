// The runtime driver interface: everything the agent needs from Docker or from plain processes.
import type { AssignedImage } from '../../shared/images/cluster-image.js';
import type { ClusterImageProvider } from '../images/agent-images.js';
import type { RejectReason } from '../../shared/reject-reasons.js';
import type { AssignedTask } from '../../shared/protocol.js';
import type { HostPort, TaskHealth } from '../../shared/spec.js';
import type { LogReading, OutputSink, ReadOptions } from './log-types.js';

/** Labels every workload carries, so observed state can be rebuilt from the runtime alone. */
export const LABELS = {
  node: 'fleet.node.id',
  service: 'fleet.service.name',
  task: 'fleet.task.id',
  slot: 'fleet.slot',
} as const;

/** One workload as the runtime reports it, rebuilt from labels (never from agent memory). */
export interface ObservedWorkload {
  runtimeId: string;
  taskId: string;
  serviceName: string;
  slot: number;
  nodeId: string;
  running: boolean;
  exitCode: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  hostPorts: HostPort[];
  /** The health check's verdict while running; absent when the workload has no check. */
  health?: Exclude<TaskHealth, 'none'>;
  /** The last check's output, shortened, to say why a workload is unhealthy. */
  healthOutput?: string;
  /** Why an exited workload ended when the runtime knows more than the code, e.g. out of memory. */
  exitReason?: string;
}

export interface RuntimeInfo {
  os: string;
  arch: string;
  cpus: number;
  memoryBytes: number;
  version: string;
  /** Tasks may use devices, privileges and kernel settings (the agent's --allow-devices). */
  allowDevices?: boolean;
}

export interface RuntimeStorage {
  path: string;
  imageBytes: number | null;
}

export interface StartOptions {
  nodeId: string;
  /** The node's name, for {{.Node.Hostname}} in a --hostname template (the id when absent). */
  nodeName?: string;
  /** The node's advertise address: published ports bind here. */
  hostIp: string;
  /** The task's secret and config files, already written by the agent. */
  files?: TaskFiles;
  /** The image reference prepare() chose (a pinned digest); the template's image otherwise. */
  image?: string;
}

/** A cluster network's bridge on this node, as a container joins it. */
export interface LocalNetwork {
  /** The engine's network name. */
  name: string;
  /** The bridge's gateway, where the agent answers DNS for the network's names. */
  gateway: string;
}

/** Makes (or finds) the local bridge of a cluster network before a task on it is created. */
export interface NetworkProvider {
  ensure(network: string): Promise<LocalNetwork>;
}

/** What prepare() made ready: the reference to run and the content it names. */
export interface PreparedImage {
  ref: string;
  /** The registry digest (sha256:…) of that content; null for an image built or imported here. */
  digest: string | null;
  /** Set when the board runs a local image because the pull failed (say so in the status). */
  note: string | null;
}

/** Credentials for one registry, as the engine takes them for a pull. */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/** Files a task uses: each mounted read-only at its target (docker), or found in the dirs (process). */
export interface TaskFiles {
  mounts: { source: string; target: string }[];
  secretsDir: string | null;
  configsDir: string | null;
}

/** A workload's resource counters as the runtime reads them: cumulative CPU and network. */
export interface WorkloadUsage {
  runtimeId: string;
  /** CPU time used since it started, all cores together. */
  cpuSeconds: number;
  memBytes: number;
  /** Bytes received and sent on its own network interfaces (0 when it shares the host's). */
  rxBytes: number;
  txBytes: number;
}

export type ExitListener = (runtimeId: string, taskId: string, exitCode: number | null) => void;

export interface Runtime {
  readonly name: 'docker' | 'process' | 'fake';
  info(): Promise<RuntimeInfo>;
  /** Workloads of this node (label fleet.node.id), running or exited. */
  list(nodeId: string): Promise<ObservedWorkload[]>;
  /**
   * Makes the image available locally (pulling it when missing, or when a tag may have moved);
   * throws ImageUnavailableError. Runtimes without images return nothing.
   */
  prepare(task: AssignedTask, auth?: RegistryAuth): Promise<PreparedImage | void>;
  /** Where images the cluster stores come from (task.clusterImage); runtimes without images ignore it. */
  useClusterImages?(provider: ClusterImageProvider): void;
  /** Starts getting a cluster image now, in the background (a rolling update's next image). */
  prefetch?(image: AssignedImage): void;
  /**
   * Where the runtime keeps its images and workloads, and how many bytes preparing this image
   * would add there: 0 when it is already local, null when its size is unknown. Without it the
   * agent checks its own data dir and counts no image.
   */
  storage?(image: string): Promise<RuntimeStorage>;
  /** Creates and starts the workload; resolves once it is running. */
  start(task: AssignedTask, opts: StartOptions): Promise<ObservedWorkload>;
  /** Stops gracefully (SIGTERM, then SIGKILL after timeoutMs); a no-op when already stopped. */
  stop(runtimeId: string, timeoutMs: number): Promise<void>;
  /** Removes a stopped workload; a no-op when it is already gone. */
  remove(runtimeId: string): Promise<void>;
  /**
   * Open TCP connections the workload is serving on these ports (its own, inside the task), or
   * null when the runtime cannot tell. Draining waits for them to end.
   */
  openConnections(runtimeId: string, ports: readonly HostPort[]): Promise<number | null>;
  /**
   * Calls back whenever a workload of this node exits or its health changes (exitCode null).
   * Returns an unsubscribe function.
   */
  watchExits(nodeId: string, onExit: ExitListener): () => void;
  /**
   * The counters of these workloads, for usage summaries; those it cannot read are left out.
   * Bounded in time and in the load it puts on the engine. Runtimes without it report none.
   */
  usage?(runtimeIds: readonly string[]): Promise<WorkloadUsage[]>;
  /** Reads a workload's output like `docker logs`; runtimes without it have no logs to show. */
  readLogs?(runtimeId: string, opts: ReadOptions, sink: OutputSink): LogReading;
  close(): Promise<void>;
}

/** The task's image cannot be had (not local, pull failed): the task is rejected, not retried. */
export class ImageUnavailableError extends Error {
  readonly code: RejectReason = 'image-unavailable';
  constructor(
    readonly image: string,
    readonly reason: string,
  ) {
    super(`image ${image} is not available: ${reason}`);
    this.name = 'ImageUnavailableError';
  }
}

/**
 * The task cannot run on this runtime as specified (bad command, port clash): rejected. The
 * code, when known, tells the manager and the CLI whether retrying can help.
 */
export class TaskRejectedError extends Error {
  constructor(
    message: string,
    readonly code?: RejectReason,
  ) {
    super(message);
    this.name = 'TaskRejectedError';
  }
}

/** The code of a rejection, when it has one. */
export const rejectReasonOf = (e: unknown): RejectReason | undefined =>
  e instanceof TaskRejectedError || e instanceof ImageUnavailableError ? e.code : undefined;

export const isImageUnavailable = (e: unknown): e is ImageUnavailableError =>
  e instanceof ImageUnavailableError;
export const isTaskRejected = (e: unknown): e is TaskRejectedError =>
  e instanceof TaskRejectedError || e instanceof ImageUnavailableError;
