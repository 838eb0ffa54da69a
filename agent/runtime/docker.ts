// The Docker runtime driver: runs each task as a labelled container through the engine's API.
import Docker from 'dockerode';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import type { Healthcheck, HostPort, PortSpec } from '../../shared/spec.js';
import { servedConnections } from './connections.js';
import {
  ImageUnavailableError,
  LABELS,
  TaskRejectedError,
  type ExitListener,
  type ObservedWorkload,
  type Runtime,
  type RuntimeInfo,
  type RuntimeStorage,
  type StartOptions,
} from './types.js';

export interface DockerRuntimeOptions {
  socketPath?: string;
  logger?: Logger;
  /** Upper bound for one image pull, so a dead registry cannot stall the agent. */
  pullTimeoutMs?: number;
}

const DEFAULT_SOCKET = '/var/run/docker.sock';
const DEFAULT_PULL_TIMEOUT_MS = 120_000;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

/** Docker reports the kernel's machine name; the cluster speaks Go/Docker platform names. */
const ARCH: Record<string, string> = {
  x86_64: 'amd64',
  amd64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  armv7l: 'arm',
  armv6l: 'arm',
  armhf: 'arm',
  i386: '386',
  i686: '386',
};

export class DockerRuntime implements Runtime {
  readonly name = 'docker' as const;
  private readonly docker: Docker;
  private readonly socketPath: string;
  private readonly log: Logger;
  private readonly pullTimeoutMs: number;
  private readonly watchers = new Set<ExitWatcher>();
  /** The last inspection of each listed container, and the listing's state it was made in. */
  private readonly observed = new Map<string, { key: string; workload: ObservedWorkload }>();
  private rootDir: string | undefined;

  constructor(opts: DockerRuntimeOptions = {}) {
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET;
    this.docker = new Docker({ socketPath: this.socketPath });
    this.log = opts.logger ?? silentLogger;
    this.pullTimeoutMs = opts.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
  }

  async info(): Promise<RuntimeInfo> {
    const raw: unknown = await this.call('info', () => this.docker.info());
    const field = (k: string): unknown => (isRecord(raw) ? raw[k] : undefined);
    const arch = str(field('Architecture'));
    return {
      os: str(field('OSType')) || 'linux',
      arch: ARCH[arch] ?? arch,
      cpus: num(field('NCPU')),
      memoryBytes: num(field('MemTotal')),
      version: str(field('ServerVersion')),
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

  async prepare(task: AssignedTask): Promise<void> {
    const image = task.template.image;
    if (await this.hasImage(image)) return;
    let reason: string;
    try {
      await this.pull(image);
      if (await this.hasImage(image)) return;
      reason = 'the pull finished but the image is still missing';
    } catch (e) {
      if (isConnectionError(e)) throw this.unreachable('pull', e);
      reason = `pull failed: ${dockerMessage(e)}`;
    }
    throw new ImageUnavailableError(image, `not found locally and ${reason}`);
  }

  async start(task: AssignedTask, opts: StartOptions): Promise<ObservedWorkload> {
    const name = containerName(task, opts.nodeId);
    // A container left by an earlier attempt (agent crash between create and report) holds the
    // name: the create then fails with a conflict, removes it and tries again.
    const container = await this.create(task, opts, name);
    if (task.template.init === true) {
      const missing = await this.missingProgram(container).catch(() => null);
      if (missing) {
        await this.removeQuietly(container.id);
        throw new TaskRejectedError(missing);
      }
    }
    try {
      await container.start();
    } catch (e) {
      await this.removeQuietly(container.id);
      throw this.classify(e, task, 'start');
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
    if (t > 0 && (await this.deafToStopSignal(runtimeId).catch(() => false))) {
      this.log.debug('the task cannot receive its stop signal; killing it at once', {
        runtimeId,
      });
      t = 0;
    }
    try {
      await this.docker.getContainer(runtimeId).stop({ t });
    } catch (e) {
      const status = statusOf(e);
      if (status === 304 || status === 404) return;
      throw this.translate('stop', e);
    }
  }

  /**
   * Whether the kernel would drop the container's stop signal: its main process ignores it, or
   * is its PID namespace's init (PID 1) without a handler for it, and such a process gets only
   * the signals it handles (see pid_namespaces(7)). False whenever it cannot be told, e.g. when
   * the engine's processes are not visible in this agent's /proc.
   */
  private async deafToStopSignal(runtimeId: string): Promise<boolean> {
    const info = await this.docker.getContainer(runtimeId).inspect();
    if (!info.State.Running || !info.State.Pid) return false;
    // The engine sends the image's STOPSIGNAL (absent from dockerode's types), else SIGTERM.
    const stopSignal: unknown = (info.Config as unknown as Record<string, unknown>).StopSignal;
    const signal = signalNumber(
      typeof stopSignal === 'string' && stopSignal ? stopSignal : 'SIGTERM',
    );
    if (signal === null || signal === os.constants.signals.SIGKILL) return false;
    const proc = `/proc/${info.State.Pid}`;
    // In another PID namespace than the engine's (an agent in a container), that number may be
    // some other process: it must be in the container's cgroup.
    const cgroup = await fs.readFile(`${proc}/cgroup`, 'utf8');
    if (!cgroup.includes(info.Id)) return false;
    return signalDropped(await fs.readFile(`${proc}/status`, 'utf8'), signal);
  }

  async remove(runtimeId: string): Promise<void> {
    try {
      await this.docker.getContainer(runtimeId).remove({ force: true });
    } catch (e) {
      if (statusOf(e) === 404) return;
      // Someone else is already removing it: the outcome is the one asked for.
      if (statusOf(e) === 409 && /already in progress/i.test(dockerMessage(e))) return;
      throw this.translate('remove', e);
    }
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
    const watcher = new ExitWatcher(this.docker, nodeId, onExit, this.log);
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

  private async create(task: AssignedTask, opts: StartOptions, name: string) {
    const options = createOptions(task, opts, name);
    try {
      return await this.docker.createContainer(options);
    } catch (e) {
      // Another start of the same task raced us to the name: clear it and try once more.
      if (statusOf(e) !== 409) throw this.classify(e, task, 'create');
      await this.removeQuietly(name);
      try {
        return await this.docker.createContainer(options);
      } catch (again) {
        throw this.classify(again, task, 'create');
      }
    }
  }

  /**
   * Under an init the engine starts the init, which then fails to run a missing program: the
   * engine no longer refuses the start. So the program is looked up in the container first, as
   * the engine would (on PATH unless it has a slash), and the task rejected the same way.
   */
  private async missingProgram(container: Docker.Container): Promise<string | null> {
    const info = await container.inspect();
    const program = info.Path;
    if (!program) return null;
    const env = info.Config.Env ?? [];
    const searchPath = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
    const candidates = program.includes('/')
      ? [path.posix.resolve(info.Config.WorkingDir || '/', program)]
      : searchPath
          .split(':')
          .filter((d) => d.startsWith('/'))
          .map((d) => path.posix.join(d, program));
    for (const candidate of candidates) {
      try {
        // The answer is a response stream (of a HEAD): left unread it would hold its engine
        // connection open for minutes.
        destroyStream((await container.infoArchive({ path: candidate })) as NodeJS.ReadableStream);
        return null;
      } catch (e) {
        if (statusOf(e) !== 404) return null; // cannot tell: let the start decide
      }
    }
    return `exec: "${program}": executable file not found in $PATH`;
  }

  /** Turns an engine refusal into the error the agent acts on; connection trouble stays retryable. */
  private classify(e: unknown, task: AssignedTask, what: string): Error {
    const status = statusOf(e);
    if (status === undefined) return this.translate(what, e);
    if (status === 404 && /image/i.test(dockerMessage(e))) {
      return new ImageUnavailableError(task.template.image, 'not found locally');
    }
    if (status >= 400 && status < 500) return new TaskRejectedError(dockerMessage(e));
    if (isSpecProblem(dockerMessage(e))) return new TaskRejectedError(dockerMessage(e));
    return new Error(`docker ${what} failed: ${dockerMessage(e)}`);
  }

  private async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw this.translate('inspect image', e);
    }
  }

  /** Pulls an image, failing on the first error line or when pullTimeoutMs runs out. */
  private pull(image: string): Promise<void> {
    const abort = new AbortController();
    return new Promise<void>((resolve, reject) => {
      let stream: NodeJS.ReadableStream | null = null;
      let settled = false;
      const settle = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (stream) destroyStream(stream);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => {
        abort.abort();
        settle(new Error(`timed out after ${Math.round(this.pullTimeoutMs / 1000)} s`));
      }, this.pullTimeoutMs);
      this.docker.pull(image, { abortSignal: abort.signal }).then((s: NodeJS.ReadableStream) => {
        stream = s;
        if (settled) destroyStream(s);
        else followPull(s, (err) => settle(err));
      }, settle);
    });
  }

  private async inspectOrNull(id: string): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await this.docker.getContainer(id).inspect();
    } catch (e) {
      // Removed between the listing and the inspection: it simply is not there any more.
      if (statusOf(e) === 404) return null;
      throw this.translate('inspect', e);
    }
  }

  private async removeQuietly(idOrName: string): Promise<void> {
    try {
      await this.docker.getContainer(idOrName).remove({ force: true });
    } catch (e) {
      if (statusOf(e) !== 404 && statusOf(e) !== 409) throw this.translate('remove', e);
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.translate(what, e);
    }
  }

  private translate(what: string, e: unknown): Error {
    if (isConnectionError(e)) return this.unreachable(what, e);
    if (statusOf(e) !== undefined) return new Error(`docker ${what} failed: ${dockerMessage(e)}`);
    return e instanceof Error ? e : new Error(String(e));
  }

  private unreachable(what: string, e: unknown): Error {
    return new Error(
      `Docker engine not reachable at ${this.socketPath} (${what}): ${errorText(e)}`,
    );
  }
}

/** A signal's number from a name (SIGTERM, TERM) or a number, as an image's STOPSIGNAL gives it. */
export function signalNumber(text: string): number | null {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) return Number(t);
  const name = (t.startsWith('SIG') ? t : `SIG${t}`) as keyof typeof os.constants.signals;
  return os.constants.signals[name] ?? null;
}

/**
 * From a /proc/PID/status text: whether the signal would be dropped, because the process
 * ignores it, or is the init (PID 1) of its PID namespace and has no handler for it. Unknown
 * (a kernel without NSpid, a malformed text) reads as not dropped.
 */
export function signalDropped(status: string, signal: number): boolean {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(status)?.[1]?.trim();
  const mask = (name: string): bigint | null => {
    const hex = field(name);
    return hex && /^[0-9a-f]+$/i.test(hex) ? BigInt(`0x${hex}`) : null;
  };
  const bit = 1n << BigInt(signal - 1);
  const ignored = mask('SigIgn');
  const caught = mask('SigCgt');
  if (ignored === null || caught === null) return false;
  if ((ignored & bit) !== 0n) return true;
  const nsPids = field('NSpid')?.split(/\s+/);
  const namespaceInit = nsPids !== undefined && nsPids.length > 1 && nsPids.at(-1) === '1';
  return namespaceInit && (caught & bit) === 0n;
}

/**
 * What of a listing says a container's state changed: its state and what Status holds in
 * parentheses (exit code, health), without the ever-changing "Up 5 seconds" part.
 */
export function summaryKey(s: { State: string; Status: string }): string {
  return `${s.State}${(s.Status.match(/\([^)]*\)/g) ?? []).join('')}`;
}

/** `<service>.<slot>.<task>`, or `<service>.<node8>.<task>` for global tasks, in Docker's charset. */
export function containerName(task: AssignedTask, nodeId: string): string {
  const middle = task.slot > 0 ? String(task.slot) : nodeId.slice(0, 8);
  const clean = `${task.serviceName}.${middle}.${task.id}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return /^[a-zA-Z0-9]/.test(clean) ? clean : `x${clean}`;
}

/** The engine's search path for a program when the image sets none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function createOptions(
  task: AssignedTask,
  opts: StartOptions,
  name: string,
): Docker.ContainerCreateOptions {
  const t = task.template;
  const { exposed, bindings } = portBindings(t.ports, opts.hostIp);
  const hostConfig: Docker.HostConfig = {
    PortBindings: bindings,
    // fleet decides restarts itself, by the service's restart policy.
    RestartPolicy: { Name: 'no' },
    // A program that is PID 1 ignores SIGTERM unless it handles it, and every stop waits out
    // the grace period: with --init, an init process in front of it passes the signal on.
    Init: t.init === true,
  };
  if (t.resources.memoryBytes > 0) hostConfig.MemoryReservation = t.resources.memoryBytes;
  const healthcheck = t.healthcheck ? dockerHealthcheck(t.healthcheck) : undefined;
  const mounts = opts.files?.mounts ?? [];
  if (mounts.length > 0) {
    hostConfig.Mounts = mounts.map((m) => ({
      Type: 'bind' as const,
      Source: m.source,
      Target: m.target,
      ReadOnly: true,
    }));
  }
  return {
    name,
    Image: t.image,
    ...(t.command.length > 0 ? { Cmd: t.command } : {}),
    Env: Object.entries(t.env).map(([k, v]) => `${k}=${v}`),
    Labels: {
      [LABELS.node]: opts.nodeId,
      [LABELS.service]: task.serviceName,
      [LABELS.task]: task.id,
      [LABELS.slot]: String(task.slot),
    },
    ExposedPorts: exposed,
    HostConfig: hostConfig,
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
  };
}

const NS_PER_MS = 1_000_000;

/** The engine's form: durations in nanoseconds; an absent Test keeps the image's command. */
function dockerHealthcheck(h: Healthcheck): Docker.HealthConfig {
  const out: Docker.HealthConfig = {};
  if (h.test) out.Test = h.test;
  if (h.intervalMs !== undefined) out.Interval = h.intervalMs * NS_PER_MS;
  if (h.timeoutMs !== undefined) out.Timeout = h.timeoutMs * NS_PER_MS;
  if (h.retries !== undefined) out.Retries = h.retries;
  if (h.startPeriodMs !== undefined) out.StartPeriod = h.startPeriodMs * NS_PER_MS;
  return out;
}

type Binding = { HostIp: string; HostPort: string };

/** Ingress ports get an ephemeral host port (HostPort ''); host-mode ports the published one. */
function portBindings(
  ports: PortSpec[],
  hostIp: string,
): { exposed: Record<string, Record<string, never>>; bindings: Record<string, Binding[]> } {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Binding[]> = {};
  for (const p of ports) {
    const key = `${p.target}/${p.protocol}`;
    const hostPort = p.mode === 'host' && p.published !== undefined ? String(p.published) : '';
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hostPort });
  }
  return { exposed, bindings };
}

function toWorkload(info: Docker.ContainerInspectInfo): ObservedWorkload | null {
  const labels: Record<string, string | undefined> = info.Config.Labels ?? {};
  const nodeId = labels[LABELS.node];
  const taskId = labels[LABELS.task];
  if (nodeId === undefined || taskId === undefined) return null;
  const startedAt = dockerTime(info.State.StartedAt);
  const running = info.State.Running;
  return {
    runtimeId: info.Id,
    taskId,
    serviceName: labels[LABELS.service] ?? '',
    slot: Number(labels[LABELS.slot] ?? 0) || 0,
    nodeId,
    running,
    // A container that never started has ExitCode 0, which would read as a clean exit.
    exitCode: running || startedAt === null ? null : info.State.ExitCode,
    startedAt,
    finishedAt: running ? null : finishedAt(startedAt, dockerTime(info.State.FinishedAt)),
    hostPorts: hostPortsOf(info),
    ...healthOf(info),
  };
}

/** The engine's health verdict and the last check's output, when the container has a check. */
function healthOf(
  info: Docker.ContainerInspectInfo,
): Pick<ObservedWorkload, 'health' | 'healthOutput'> {
  const h = info.State.Health;
  if (!info.State.Running || !h) return {};
  const status = h.Status;
  if (status !== 'starting' && status !== 'healthy' && status !== 'unhealthy') return {};
  const last = h.Log?.[h.Log.length - 1];
  const output = last ? `exit ${last.ExitCode}: ${last.Output.trim()}`.slice(0, 300) : undefined;
  return { health: status, ...(output ? { healthOutput: output } : {}) };
}

function hostPortsOf(info: Docker.ContainerInspectInfo): HostPort[] {
  const out: HostPort[] = [];
  const ports: Record<string, Binding[] | null | undefined> = info.NetworkSettings.Ports ?? {};
  for (const [key, list] of Object.entries(ports)) {
    const [target, proto] = key.split('/');
    for (const b of list ?? []) {
      const hostPort = Number(b.HostPort);
      if (!hostPort) continue;
      const protocol = proto === 'udp' ? 'udp' : 'tcp';
      const entry = { target: Number(target), protocol, hostIp: b.HostIp, hostPort } as const;
      if (!out.some((o) => o.target === entry.target && o.hostPort === hostPort)) out.push(entry);
    }
  }
  return out;
}

/** The engine can stamp an instant exit a few ms before the start; keep the order sane. */
function finishedAt(started: number | null, finished: number | null): number | null {
  return started !== null && finished !== null ? Math.max(started, finished) : finished;
}

/** Docker writes the zero time (year 1) for "never"; that becomes null. */
function dockerTime(text: string | undefined): number | null {
  if (!text) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** Watches one node's container deaths, reconnecting the event stream until closed. */
class ExitWatcher {
  private closed = false;
  private stream: NodeJS.ReadableStream | null = null;
  private timer: NodeJS.Timeout | null = null;
  private backoffMs = RECONNECT_MIN_MS;
  /** Replay point: events since here are asked for again after a reconnect, so none are lost. */
  private sinceSec = Math.floor(Date.now() / 1000);
  private readonly seen = new Set<string>();

  constructor(
    private readonly docker: Docker,
    private readonly nodeId: string,
    private readonly onExit: ExitListener,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.stream) destroyStream(this.stream);
    this.stream = null;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getEvents({
        since: this.sinceSec,
        filters: {
          type: ['container'],
          event: ['die', 'health_status'],
          label: [`${LABELS.node}=${this.nodeId}`],
        },
      });
    } catch (e) {
      this.log.warn('docker event stream unavailable', { error: errorText(e) });
      this.reconnectLater();
      return;
    }
    if (this.closed) return destroyStream(stream);
    this.stream = stream;
    this.backoffMs = RECONNECT_MIN_MS;
    this.consume(stream);
  }

  private consume(stream: NodeJS.ReadableStream): void {
    const lines = new JsonLines();
    stream.on('data', (chunk: Buffer | string) => lines.push(chunk).forEach((e) => this.handle(e)));
    const ended = (err?: unknown): void => {
      if (this.stream !== stream) return;
      this.stream = null;
      lines.end().forEach((e) => this.handle(e));
      // One second of overlap: the engine's "since" has second resolution; duplicates are dropped.
      this.sinceSec = Math.floor(Date.now() / 1000) - 1;
      if (this.closed) return;
      this.log.warn('docker event stream ended; reconnecting', { error: errorText(err ?? 'end') });
      this.reconnectLater();
    };
    stream.on('error', ended);
    stream.on('end', () => ended());
    stream.on('close', () => ended());
  }

  private reconnectLater(): void {
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref();
  }

  private handle(event: unknown): void {
    const die = parseDie(event);
    if (!die || this.closed || this.seen.has(die.key)) return;
    this.seen.add(die.key);
    if (this.seen.size > 1024) this.seen.delete(this.seen.values().next().value ?? '');
    if (die.nodeId !== this.nodeId) return;
    try {
      this.onExit(die.id, die.taskId, die.exitCode);
    } catch (e) {
      this.log.error('exit listener threw', { error: errorText(e), taskId: die.taskId });
    }
  }
}

interface DieEvent {
  key: string;
  id: string;
  nodeId: string;
  taskId: string;
  exitCode: number | null;
}

function parseDie(event: unknown): DieEvent | null {
  if (!isRecord(event) || !isRecord(event.Actor)) return null;
  const action = str(event.Action ?? event.status);
  // "health_status: healthy" and the like: reported as a change without an exit code.
  const health = action.startsWith('health_status');
  if (action !== 'die' && !health) return null;
  const attrs = isRecord(event.Actor.Attributes) ? event.Actor.Attributes : {};
  const id = str(event.Actor.ID) || str(event.id);
  const taskId = str(attrs[LABELS.task]);
  if (!id || !taskId) return null;
  const codeText = health ? '' : str(attrs.exitCode);
  const code = codeText === '' ? NaN : Number(codeText);
  const when = str(event.timeNano) || String(num(event.timeNano) || num(event.time));
  return {
    key: `${id}:${when}:${action}`,
    id,
    nodeId: str(attrs[LABELS.node]),
    taskId,
    exitCode: Number.isInteger(code) ? code : null,
  };
}

/** Reads a pull's progress lines; the engine reports failures as an "error" line, not a status. */
function followPull(stream: NodeJS.ReadableStream, done: (err: Error | null) => void): void {
  const lines = new JsonLines();
  let failure: string | null = null;
  const inspect = (msg: unknown): void => {
    if (failure === null && isRecord(msg) && msg.error !== undefined) failure = str(msg.error);
  };
  stream.on('data', (chunk: Buffer | string) => lines.push(chunk).forEach(inspect));
  stream.on('error', (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
  stream.on('end', () => {
    lines.end().forEach(inspect);
    done(failure === null ? null : new Error(failure));
  });
}

/**
 * Splits newline-delimited JSON arriving in arbitrary chunks (several lines, part of one, or a
 * split multi-byte character). A line that is not JSON is dropped: it must not kill the stream.
 */
export class JsonLines {
  private readonly decoder = new StringDecoder('utf8');
  private buffered = '';

  push(chunk: Buffer | string): unknown[] {
    this.buffered += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const lines = this.buffered.split('\n');
    this.buffered = lines.pop() ?? '';
    return lines.flatMap(parseJsonLine);
  }

  end(): unknown[] {
    const rest = this.buffered + this.decoder.end();
    this.buffered = '';
    return parseJsonLine(rest);
  }
}

function parseJsonLine(line: string): unknown[] {
  const text = line.trim();
  if (!text) return [];
  try {
    return [JSON.parse(text) as unknown];
  } catch {
    return [];
  }
}

/** Start failures that the task's own spec causes, so retrying the same spec cannot help. */
function isSpecProblem(message: string): boolean {
  return /port is already allocated|address already in use|executable file not found|exec: |no such file or directory|permission denied|invalid (reference|argument|port)|OCI runtime create failed/i.test(
    message,
  );
}

function statusOf(e: unknown): number | undefined {
  return isRecord(e) && typeof e.statusCode === 'number' ? e.statusCode : undefined;
}

/** The engine's own message, without dockerode's "(HTTP code 500) server error - " prefix. */
function dockerMessage(e: unknown): string {
  if (isRecord(e) && isRecord(e.json) && typeof e.json.message === 'string') {
    return e.json.message.trim();
  }
  return errorText(e)
    .replace(/^\(HTTP code \d+\) [^-]*- /, '')
    .trim();
}

function isConnectionError(e: unknown): boolean {
  const code = isRecord(e) ? e.code : undefined;
  return (
    typeof code === 'string' &&
    ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code)
  );
}

function destroyStream(stream: NodeJS.ReadableStream): void {
  const s: unknown = stream;
  if (isRecord(s) && typeof s.destroy === 'function') (s.destroy as () => void).call(s);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
