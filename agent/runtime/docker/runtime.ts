// The Docker runtime driver: runs each task as a labelled container through the engine's API.
import type { AssignedImage } from '../../../shared/images/cluster-image.js';
import type { ClusterImageProvider } from '../../images/agent-images.js';
import Docker from 'dockerode';
import { platformArch } from '../../../shared/arch.js';
import { systemClock, type Clock } from '../../../shared/clock.js';
import { defaultDockerHost, type DockerHost } from '../../../shared/docker-host.js';
import { silentLogger, type Logger } from '../../../shared/log.js';
import type { AssignedTask } from '../../../shared/protocol.js';
import { deviceOptionsUsed, devicesRefused, type HostPort } from '../../../shared/spec.js';
import { servedConnections } from '../connections.js';
import {
  LABELS,
  TaskRejectedError,
  type ExitListener,
  type NetworkProvider,
  type ObservedWorkload,
  type PreparedImage,
  type RegistryAuth,
  type Runtime,
  type RuntimeInfo,
  type RuntimeStorage,
  type StartOptions,
  type WorkloadUsage,
} from '../types.js';
import { dockerUsage } from './usage.js';
import { containerName, createOptions } from './create-options.js';
import {
  classify,
  dockerMessage,
  isConnectionError,
  statusOf,
  translate,
  unreachable,
} from './errors.js';
import { ExitAndHealthWatcher } from './exit-health-watcher.js';
import { isRecord, num, str } from './fields.js';
import { missingProgram } from './missing-program.js';
import { summaryKey, toWorkload } from './observe.js';
import { DockerImages } from './images.js';
import { foreignProgram } from './program-arch.js';
import { ensureVolumes } from './volumes.js';
import { applyJoin, connectOthers, networkJoin, type NetworkJoin } from './networks.js';
import { JoinLeaveGate, onUserNetwork } from './join-leave-gate.js';
import { deafToStopSignal } from './stop-signal.js';
import { readContainerLog } from './logs.js';
import type { LogReading, OutputSink, ReadOptions } from '../log-types.js';

export interface DockerRuntimeOptions {
  /** The engine (the agent's --docker-host or DOCKER_HOST); by default the local socket. */
  dockerHost?: DockerHost;
  /** A local socket instead of dockerHost. */
  socketPath?: string;
  logger?: Logger;
  /** Upper bound for one image pull, so a dead registry cannot stall the agent. */
  pullTimeoutMs?: number;
  /** Time for the pull's deadline and the event stream's reconnects and replay point. */
  clock?: Clock;
  /** Run tasks that use devices, privileges or kernel settings (the agent's --allow-devices). */
  allowDevices?: boolean;
  /** Makes the bridges of tasks' cluster networks (agent/network); without it they are refused. */
  networks?: NetworkProvider;
}

const DEFAULT_PULL_TIMEOUT_MS = 120_000;

export class DockerRuntime implements Runtime {
  readonly name = 'docker' as const;
  private readonly docker: Docker;
  /** How messages name the engine: its socket's path or tcp:// address. */
  private readonly socketPath: string;
  private readonly log: Logger;
  private readonly pullTimeoutMs: number;
  private readonly clock: Clock;
  private readonly watchers = new Set<ExitAndHealthWatcher>();
  /** The last inspection of each listed container, and the listing's state it was made in. */
  private readonly observed = new Map<string, { key: string; workload: ObservedWorkload }>();
  private rootDir: string | undefined;
  private engineArch: string | undefined;
  /** Per image and program: the refusal for a foreign program, or null when it fits. */
  private readonly programVerdicts = new Map<string, string | null>();
  private readonly allowDevices: boolean;
  private readonly images: DockerImages;

  private networks: NetworkProvider | undefined;
  /** Joins and leaves of cluster networks, one at a time (see join-leave-gate.ts). */
  private readonly joins: JoinLeaveGate;

  constructor(opts: DockerRuntimeOptions = {}) {
    this.networks = opts.networks;
    this.allowDevices = opts.allowDevices === true;
    const host =
      opts.dockerHost ??
      (opts.socketPath !== undefined
        ? { options: { socketPath: opts.socketPath }, display: opts.socketPath }
        : defaultDockerHost());
    this.socketPath = host.display;
    this.docker = new Docker({ ...host.options });
    this.log = opts.logger ?? silentLogger;
    this.pullTimeoutMs = opts.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
    this.clock = opts.clock ?? systemClock;
    this.joins = new JoinLeaveGate(this.clock);
    this.images = new DockerImages({
      docker: this.docker,
      socketPath: this.socketPath,
      clock: this.clock,
      log: this.log,
      pullTimeoutMs: this.pullTimeoutMs,
    });
  }

  /** Images the cluster stores, fetched by the agent and loaded into this engine. */
  useClusterImages(provider: ClusterImageProvider): void {
    this.images.useCluster(provider);
  }

  prefetch(image: AssignedImage): void {
    this.images.prefetch(image);
  }

  /** Network support given once the node id is known (the agent learns it after info()). */
  useNetworks(provider: NetworkProvider): void {
    this.networks = provider;
  }

  async info(): Promise<RuntimeInfo> {
    const raw: unknown = await this.call('info', () => this.docker.info());
    const field = (k: string): unknown => (isRecord(raw) ? raw[k] : undefined);
    return {
      os: str(field('OSType')) || 'linux',
      arch: platformArch(str(field('Architecture'))),
      cpus: num(field('NCPU')),
      memoryBytes: num(field('MemTotal')),
      version: str(field('ServerVersion')),
      allowDevices: this.allowDevices,
    };
  }

  /**
   * The engine's data root, and 0 bytes for a local image. A missing image's size stays unknown:
   * the engine's distribution endpoint gives the manifest's descriptor, not the layers' sizes.
   */
  async storage(image: string): Promise<RuntimeStorage> {
    if (this.rootDir === undefined) {
      const raw: unknown = await this.call('info', () => this.docker.info());
      this.rootDir = (isRecord(raw) ? str(raw.DockerRootDir) : '') || '/var/lib/docker';
    }
    return { path: this.rootDir, imageBytes: (await this.hasImage(image)) ? 0 : null };
  }

  async list(nodeId: string): Promise<ObservedWorkload[]> {
    const summaries = await this.call('list containers', () =>
      this.docker.listContainers({ all: true, filters: { label: [`${LABELS.node}=${nodeId}`] } }),
    );
    const listed = new Set(summaries.map((s) => s.Id));
    for (const id of this.observed.keys()) if (!listed.has(id)) this.observed.delete(id);
    const workloads = await Promise.all(
      summaries.map(async (s) => {
        // Only a container whose state changed is inspected again: a pass over a busy node
        // must not cost the engine one inspection per container.
        const key = summaryKey(s);
        const seen = this.observed.get(s.Id);
        if (seen?.key === key) return seen.workload;
        const info = await this.inspectOrNull(s.Id);
        const workload = info ? toWorkload(info) : null;
        if (workload) this.observed.set(s.Id, { key, workload });
        return workload;
      }),
    );
    return workloads.filter((w): w is ObservedWorkload => w !== null && w.nodeId === nodeId);
  }

  async prepare(task: AssignedTask, auth?: RegistryAuth): Promise<PreparedImage> {
    const used = deviceOptionsUsed(task.template);
    if (used.length > 0 && !this.allowDevices) throw new TaskRejectedError(devicesRefused(used));
    try {
      await ensureVolumes(this.docker, task.template.mounts, task.template.containerLabels);
    } catch (e) {
      if (isConnectionError(e)) throw unreachable(this.socketPath, 'create volume', e);
      throw new TaskRejectedError(`a volume could not be created: ${dockerMessage(e)}`);
    }
    return this.images.prepare(task, auth);
  }

  async start(task: AssignedTask, opts: StartOptions): Promise<ObservedWorkload> {
    const name = containerName(task, opts.nodeId);
    // A container left by an earlier attempt (agent crash between create and report) holds the
    // name: the create then fails with a conflict, removes it and tries again.
    const image = opts.image ?? task.template.image;
    const join = await networkJoin(this.docker, this.networks, task.template, image);
    const container = await this.create(task, opts, name, join);
    if (join) {
      await this.joins.join(() =>
        connectOthers(this.docker, container.id, join).catch(async (e: unknown) => {
          await this.removeQuietly(container.id);
          throw classify(this.socketPath, e, task, 'create');
        }),
      );
    }
    const foreign = await this.foreignProgram(container).catch(() => null);
    if (foreign) {
      await this.removeQuietly(container.id);
      throw new TaskRejectedError(foreign, 'platform');
    }
    if (task.template.init === true) {
      const missing = await missingProgram(container).catch(() => null);
      if (missing) {
        await this.removeQuietly(container.id);
        throw new TaskRejectedError(missing, 'missing-executable');
      }
    }
    try {
      if (join) await this.joins.join(() => container.start());
      else await container.start();
    } catch (e) {
      await this.removeQuietly(container.id);
      throw classify(this.socketPath, e, task, 'start');
    }
    const info = await this.call('inspect', () => container.inspect());
    const workload = toWorkload(info);
    if (!workload) throw new Error(`container ${container.id} lost its fleet labels`);
    return workload;
  }

  async stop(runtimeId: string, timeoutMs: number): Promise<void> {
    let t = Math.max(0, Math.ceil(timeoutMs / 1000));
    // A program that cannot receive its stop signal would only be killed after the whole grace
    // period: it is killed at once instead (it was drained already).
    if (t > 0 && (await deafToStopSignal(this.docker, runtimeId).catch(() => false))) {
      this.log.debug('the task cannot receive its stop signal; killing it at once', {
        runtimeId,
      });
      t = 0;
    }
    const stop = () => this.docker.getContainer(runtimeId).stop({ t });
    try {
      if (await onUserNetwork(this.docker, runtimeId)) await this.joins.leave(stop);
      else await stop();
    } catch (e) {
      const status = statusOf(e);
      if (status === 304 || status === 404) return;
      throw translate(this.socketPath, 'stop', e);
    }
  }

  async remove(runtimeId: string): Promise<void> {
    const remove = () => this.docker.getContainer(runtimeId).remove({ force: true });
    try {
      if (await onUserNetwork(this.docker, runtimeId)) await this.joins.leave(remove);
      else await remove();
    } catch (e) {
      if (statusOf(e) === 404) return;
      // Someone else is already removing it: the outcome is the one asked for.
      if (statusOf(e) === 409 && /already in progress/i.test(dockerMessage(e))) return;
      throw translate(this.socketPath, 'remove', e);
    }
  }

  /** The container's log from the engine, stamped by it (see logs.ts). */
  readLogs(runtimeId: string, opts: ReadOptions, sink: OutputSink): LogReading {
    return readContainerLog(this.docker, runtimeId, opts, sink, () => this.clock.now());
  }

  /** The engine's one-shot stats of each container (see usage.ts). */
  usage(runtimeIds: readonly string[]): Promise<WorkloadUsage[]> {
    return dockerUsage(this.docker, runtimeIds, this.clock);
  }

  async openConnections(runtimeId: string, ports: readonly HostPort[]): Promise<number | null> {
    const info = await this.inspectOrNull(runtimeId).catch(() => null);
    if (!info) return 0;
    if (!info.State.Running || !info.State.Pid) return 0;
    const tcp = ports.filter((p) => p.protocol === 'tcp');
    const inside = await servedConnections(
      info.State.Pid,
      tcp.map((p) => p.target),
    );
    // Connections reaching the host port through Docker's userland proxy also end on the host
    // side: the proxy may still hold data the task already handed over.
    const proxied = await servedConnections(
      'self',
      tcp.map((p) => p.hostPort),
    );
    return inside === null && proxied === null ? null : (inside ?? 0) + (proxied ?? 0);
  }

  watchExits(nodeId: string, onExit: ExitListener): () => void {
    // The engine sends "die" before its container list says the container stopped: a listing
    // right after the event still reads "running". Forgetting what was observed of the container
    // makes the next listing inspect it, and an inspection already reads it stopped.
    const changed: ExitListener = (runtimeId, taskId, exitCode) => {
      this.observed.delete(runtimeId);
      onExit(runtimeId, taskId, exitCode);
    };
    const watcher = new ExitAndHealthWatcher(this.docker, nodeId, changed, this.log, this.clock);
    this.watchers.add(watcher);
    watcher.start();
    return () => {
      watcher.close();
      this.watchers.delete(watcher);
    };
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers.clear();
  }

  private async create(
    task: AssignedTask,
    opts: StartOptions,
    name: string,
    join: NetworkJoin | null,
  ) {
    const options = createOptions(task, opts, name);
    if (join) applyJoin(options, join, opts.hostIp);
    try {
      return await this.docker.createContainer(options);
    } catch (e) {
      // Another start of the same task raced us to the name: clear it and try once more.
      if (statusOf(e) !== 409) throw classify(this.socketPath, e, task, 'create');
      await this.removeQuietly(name);
      try {
        return await this.docker.createContainer(options);
      } catch (again) {
        throw classify(this.socketPath, again, task, 'create');
      }
    }
  }

  /** A program for another architecture, checked once per image and program. */
  private async foreignProgram(container: Docker.Container): Promise<string | null> {
    const info = await container.inspect();
    const key = `${info.Image}\0${info.Path}`;
    const known = this.programVerdicts.get(key);
    if (known !== undefined) return known;
    this.engineArch ??= (await this.info()).arch;
    const verdict = await foreignProgram(container, info, this.engineArch);
    if (this.programVerdicts.size >= 256) this.programVerdicts.clear();
    this.programVerdicts.set(key, verdict);
    return verdict;
  }

  private async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw translate(this.socketPath, 'inspect image', e);
    }
  }

  private async inspectOrNull(id: string): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await this.docker.getContainer(id).inspect();
    } catch (e) {
      // Removed between the listing and the inspection: it simply is not there any more.
      if (statusOf(e) === 404) return null;
      throw translate(this.socketPath, 'inspect', e);
    }
  }

  private async removeQuietly(idOrName: string): Promise<void> {
    try {
      await this.docker.getContainer(idOrName).remove({ force: true });
    } catch (e) {
      if (statusOf(e) !== 404 && statusOf(e) !== 409) {
        throw translate(this.socketPath, 'remove', e);
      }
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw translate(this.socketPath, what, e);
    }
  }
}
