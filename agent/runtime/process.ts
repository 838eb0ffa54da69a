// The process runtime driver: runs a task's command as a plain detached process, for boards without Docker.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  constants as fsConstants,
  promises as fs,
  openSync,
  closeSync,
  readFileSync,
} from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import { servedConnections } from './connections.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import type { HostPort, PortSpec } from '../../shared/spec.js';
import {
  TaskRejectedError,
  type ExitListener,
  type ObservedWorkload,
  type Runtime,
  type RuntimeInfo,
  type RuntimeStorage,
  type StartOptions,
} from './types.js';

export interface ProcessRuntimeOptions {
  dataDir: string;
  logger?: Logger;
}

const POLL_MS = 500;
const STOP_POLL_MS = 25;
const KILL_WAIT_MS = 5_000;
const ID_PREFIX = 'proc-';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

const recordSchema = z.object({
  v: z.literal(1),
  runtimeId: z.string(),
  taskId: z.string(),
  serviceName: z.string(),
  slot: z.number().int(),
  nodeId: z.string(),
  image: z.string(),
  command: z.array(z.string()),
  pid: z.number().int().positive(),
  /** Kernel start time of the pid (Linux), so a recycled pid is not taken for ours. */
  procStart: z.string().nullable(),
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
  exited: z.boolean(),
  exitCode: z.number().int().nullable(),
  hostPorts: z.array(
    z.object({
      target: z.number().int(),
      protocol: z.enum(['tcp', 'udp']),
      hostIp: z.string(),
      hostPort: z.number().int(),
    }),
  ),
});
type ProcessRecord = z.infer<typeof recordSchema>;

interface Watch {
  nodeId: string;
  onExit: ExitListener;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process' as const;
  private readonly dataDir: string;
  private readonly recordsDir: string;
  private readonly logsDir: string;
  private readonly log: Logger;
  /** Children spawned by this instance: their 'exit' event gives the real exit code. */
  private readonly children = new Map<string, ChildProcess>();
  /** Live processes from an earlier agent run, polled for liveness (their exit code is lost). */
  private readonly adopted = new Map<string, ProcessRecord>();
  private readonly watches = new Set<Watch>();
  /** Per-task chain of record writes, so an exit recorded early is not overwritten by the start. */
  private readonly writes = new Map<string, Promise<void>>();
  private poller: NodeJS.Timeout | null = null;

  constructor(opts: ProcessRuntimeOptions) {
    this.dataDir = opts.dataDir;
    this.recordsDir = path.join(opts.dataDir, 'processes');
    this.logsDir = path.join(opts.dataDir, 'logs');
    this.log = opts.logger ?? silentLogger;
  }

  async info(): Promise<RuntimeInfo> {
    const arch = os.arch();
    return {
      os: os.platform(),
      arch: ARCH[arch] ?? arch,
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
      version: process.version,
    };
  }

  /** Tasks run programs already on the board: only their records and logs take space here. */
  async storage(): Promise<RuntimeStorage> {
    return { path: this.dataDir, imageBytes: 0 };
  }

  async list(nodeId: string): Promise<ObservedWorkload[]> {
    // Exits already seen but not yet on disk must show up in this answer.
    await Promise.all([...this.writes.values()].map((w) => w.catch(() => undefined)));
    const records = (await this.readRecords()).filter((r) => r.nodeId === nodeId);
    const watched = [...this.watches].some((w) => w.nodeId === nodeId);
    const out: ObservedWorkload[] = [];
    for (const rec of records) {
      const current = await this.refresh(rec);
      const foreign = !current.exited && !this.children.has(current.taskId);
      if (foreign && watched) this.adopted.set(current.taskId, current);
      out.push(toWorkload(current, this.isRunning(current)));
    }
    return out;
  }

  async prepare(task: AssignedTask): Promise<void> {
    const exe = commandOf(task)[0];
    const env = envPath(task);
    if ((await resolveExecutable(exe, env)) === null) {
      throw new TaskRejectedError(`executable not found: ${exe}`);
    }
  }

  async start(task: AssignedTask, opts: StartOptions): Promise<ObservedWorkload> {
    const command = commandOf(task);
    await this.discardStale(task.id);
    const hostPorts = await pickPorts(task.template.ports, opts.hostIp);
    await fs.mkdir(this.recordsDir, { recursive: true });
    await fs.mkdir(this.logsDir, { recursive: true });
    const env = buildEnv(task, opts.hostIp, hostPorts);
    // No mount namespace here: the task reads its files by name from these directories.
    if (opts.files?.secretsDir) env.FLEET_SECRETS_DIR = opts.files.secretsDir;
    if (opts.files?.configsDir) env.FLEET_CONFIGS_DIR = opts.files.configsDir;
    const rec = await this.launch(command, env, {
      v: 1,
      runtimeId: ID_PREFIX + task.id,
      taskId: task.id,
      serviceName: task.serviceName,
      slot: task.slot,
      nodeId: opts.nodeId,
      image: task.template.image,
      command,
      startedAt: Date.now(),
      finishedAt: null,
      exited: false,
      exitCode: null,
      hostPorts,
    });
    return toWorkload(rec, this.isRunning(rec));
  }

  async stop(runtimeId: string, timeoutMs: number): Promise<void> {
    const rec = await this.readRecord(taskIdOf(runtimeId));
    if (!rec || !this.isAlive(rec)) return;
    // Not our child: no 'exit' event will come, so the exit is reported by afterStop or the poller.
    if (!this.children.has(rec.taskId)) this.adopted.set(rec.taskId, rec);
    signalGroup(rec.pid, 'SIGTERM');
    if (await this.waitGone(rec, timeoutMs)) return this.afterStop(rec);
    signalGroup(rec.pid, 'SIGKILL');
    if (!(await this.waitGone(rec, KILL_WAIT_MS))) {
      throw new Error(`process ${rec.pid} of task ${rec.taskId} survived SIGKILL`);
    }
    return this.afterStop(rec);
  }

  /** Processes share the host's network: their connections are those on their host ports. */
  async openConnections(runtimeId: string, ports: readonly HostPort[]): Promise<number | null> {
    const rec = await this.readRecord(taskIdOf(runtimeId));
    if (!rec || !this.isAlive(rec)) return 0;
    const hostPorts = ports.filter((p) => p.protocol === 'tcp').map((p) => p.hostPort);
    return servedConnections('self', hostPorts);
  }

  async remove(runtimeId: string): Promise<void> {
    const taskId = taskIdOf(runtimeId);
    const rec = await this.readRecord(taskId);
    // Like a forced container removal: whatever still runs goes first.
    if (rec && this.isAlive(rec)) await this.stop(runtimeId, 0);
    await this.writes.get(taskId);
    this.children.delete(taskId);
    this.adopted.delete(taskId);
    await fs.rm(this.recordFile(taskId), { force: true });
    await fs.rm(path.join(this.logsDir, `${safeName(taskId)}.log`), { force: true });
  }

  watchExits(nodeId: string, onExit: ExitListener): () => void {
    const watch: Watch = { nodeId, onExit };
    this.watches.add(watch);
    void this.adoptLive(nodeId).catch((e: unknown) =>
      this.log.warn('cannot read process records', { error: errorText(e) }),
    );
    this.ensurePoller();
    return () => {
      this.watches.delete(watch);
      if (this.watches.size === 0) this.stopPoller();
    };
  }

  async close(): Promise<void> {
    // The processes themselves keep running: they are meant to outlive the agent.
    this.watches.clear();
    this.stopPoller();
    await Promise.all([...this.writes.values()].map((w) => w.catch(() => undefined)));
  }

  /** Spawns the process detached (its own group, outliving the agent) with output to its log. */
  private launch(
    command: string[],
    env: NodeJS.ProcessEnv,
    base: Omit<ProcessRecord, 'pid' | 'procStart'>,
  ): Promise<ProcessRecord> {
    const [exe = '', ...args] = command;
    const logFd = openSync(path.join(this.logsDir, `${safeName(base.taskId)}.log`), 'a');
    let child: ChildProcess;
    try {
      child = spawn(exe, args, { detached: true, stdio: ['ignore', logFd, logFd], env });
    } finally {
      closeSync(logFd); // the child holds its own copy of the descriptor
    }
    const pid = child.pid;
    if (pid === undefined) {
      return new Promise((_resolve, reject) => {
        child.once('error', (e) =>
          reject(new TaskRejectedError(`cannot run ${exe}: ${e.message}`)),
        );
      });
    }
    // The first record write and the exit listener are both set up before control returns to
    // the event loop, so even an instant exit is written after the start, never before it.
    const rec: ProcessRecord = { ...base, pid, procStart: procStat(pid)?.start ?? null };
    this.children.set(rec.taskId, child);
    const written = this.update(rec.taskId, () => rec);
    child.once('exit', (code, signal) => this.onChildExit(rec, exitCodeOf(code, signal)));
    child.on('error', (e) =>
      this.log.warn('process error', { taskId: rec.taskId, error: e.message }),
    );
    child.unref();
    return written.then(
      () => rec,
      (e: unknown) => {
        // Without its record (say, on a full disk) the process could never be found again by a
        // restarted agent, nor stopped: end it now and fail the start instead of leaking it.
        signalGroup(pid, 'SIGKILL');
        throw new Error(`cannot record the started process: ${errorText(e)}`);
      },
    );
  }

  private onChildExit(rec: ProcessRecord, exitCode: number | null): void {
    this.children.delete(rec.taskId);
    killRemnants(rec.pid);
    const finished = Date.now();
    void this.update(rec.taskId, (cur) =>
      cur ? { ...cur, exited: true, exitCode, finishedAt: finished } : null,
    ).catch((e: unknown) =>
      this.log.warn('cannot record exit', { taskId: rec.taskId, error: errorText(e) }),
    );
    this.emitExit(rec, exitCode);
  }

  private emitExit(rec: ProcessRecord, exitCode: number | null): void {
    for (const w of this.watches) {
      if (w.nodeId !== rec.nodeId) continue;
      try {
        w.onExit(rec.runtimeId, rec.taskId, exitCode);
      } catch (e) {
        this.log.error('exit listener threw', { taskId: rec.taskId, error: errorText(e) });
      }
    }
  }

  /** Marks a record exited when its process is gone and nobody else will (adopted or orphaned). */
  private async refresh(rec: ProcessRecord): Promise<ProcessRecord> {
    if (rec.exited || this.children.has(rec.taskId) || this.isAlive(rec)) return rec;
    const marked = { ...rec, exited: true, finishedAt: Date.now() };
    // Unrecorded (a full disk), the exit is found again on the next look and written then.
    await this.update(rec.taskId, (cur) => (cur && !cur.exited ? marked : null)).catch(
      (e: unknown) =>
        this.log.warn('cannot record exit', { taskId: rec.taskId, error: errorText(e) }),
    );
    return marked;
  }

  private isRunning(rec: ProcessRecord): boolean {
    const child = this.children.get(rec.taskId);
    if (child) return child.exitCode === null && child.signalCode === null;
    return !rec.exited;
  }

  private isAlive(rec: ProcessRecord): boolean {
    const child = this.children.get(rec.taskId);
    if (child) return child.exitCode === null && child.signalCode === null;
    return pidAlive(rec.pid, rec.procStart);
  }

  private async adoptLive(nodeId: string): Promise<void> {
    for (const rec of await this.readRecords()) {
      if (rec.nodeId !== nodeId || rec.exited || this.children.has(rec.taskId)) continue;
      if (this.isAlive(rec)) this.adopted.set(rec.taskId, rec);
    }
  }

  private ensurePoller(): void {
    if (this.poller) return;
    let busy = false; // a slow round must not overlap the next one and report an exit twice
    this.poller = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.pollAdopted()
        .catch((e: unknown) => this.log.warn('liveness poll failed', { error: errorText(e) }))
        .finally(() => (busy = false));
    }, POLL_MS);
    this.poller.unref();
  }

  private stopPoller(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }

  private async pollAdopted(): Promise<void> {
    for (const rec of [...this.adopted.values()]) {
      if (!pidAlive(rec.pid, rec.procStart)) await this.reportAdoptedExit(rec);
    }
  }

  /** Records and reports an adopted process's end, once, whoever (poller or stop) sees it first. */
  private async reportAdoptedExit(rec: ProcessRecord): Promise<void> {
    if (!this.adopted.delete(rec.taskId)) return;
    killRemnants(rec.pid);
    await this.update(rec.taskId, (cur) =>
      cur && !cur.exited ? { ...cur, exited: true, finishedAt: Date.now() } : null,
    ).catch((e: unknown) =>
      this.log.warn('cannot record exit', { taskId: rec.taskId, error: errorText(e) }),
    );
    this.emitExit(rec, null);
  }

  private async waitGone(rec: ProcessRecord, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.isAlive(rec)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, STOP_POLL_MS));
    }
  }

  /** Our own child's exit is recorded by its 'exit' event; an adopted one's is reported here. */
  private async afterStop(rec: ProcessRecord): Promise<void> {
    if (this.adopted.has(rec.taskId)) await this.reportAdoptedExit(rec);
    else await this.writes.get(rec.taskId);
  }

  /** A record left by an earlier attempt of the same task: kill what is left and forget it. */
  private async discardStale(taskId: string): Promise<void> {
    const rec = await this.readRecord(taskId);
    if (rec) await this.remove(rec.runtimeId);
    // An agent killed between spawn and the first record write left a process nobody tracks.
    else if (!this.children.has(taskId)) await killUnrecorded(taskId);
  }

  /** Serialises read-modify-write of one task's record; fn returns null to leave it unwritten. */
  private update(
    taskId: string,
    fn: (cur: ProcessRecord | null) => ProcessRecord | null,
  ): Promise<void> {
    const prev = this.writes.get(taskId) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        const rec = fn(await this.readRecord(taskId));
        if (rec) await writeFileAtomic(this.recordFile(taskId), JSON.stringify(rec));
      });
    this.writes.set(taskId, next);
    void next
      .finally(() => {
        if (this.writes.get(taskId) === next) this.writes.delete(taskId);
      })
      .catch(() => undefined);
    return next;
  }

  private recordFile(taskId: string): string {
    return path.join(this.recordsDir, `${safeName(taskId)}.json`);
  }

  private async readRecord(taskId: string): Promise<ProcessRecord | null> {
    const parsed = recordSchema.safeParse(await readJsonFile(this.recordFile(taskId)));
    return parsed.success ? parsed.data : null;
  }

  private async readRecords(): Promise<ProcessRecord[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.recordsDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: ProcessRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const parsed = recordSchema.safeParse(await readJsonFile(path.join(this.recordsDir, name)));
      if (parsed.success) out.push(parsed.data);
      else this.log.warn('ignoring unreadable process record', { file: name });
    }
    return out;
  }
}

function toWorkload(rec: ProcessRecord, running: boolean): ObservedWorkload {
  return {
    runtimeId: rec.runtimeId,
    taskId: rec.taskId,
    serviceName: rec.serviceName,
    slot: rec.slot,
    nodeId: rec.nodeId,
    running,
    exitCode: running ? null : rec.exitCode,
    startedAt: rec.startedAt,
    finishedAt: running ? null : rec.finishedAt,
    hostPorts: rec.hostPorts,
  };
}

function commandOf(task: AssignedTask): [string, ...string[]] {
  const [exe, ...args] = task.template.command;
  if (exe === undefined || exe === '') {
    throw new TaskRejectedError('the process runtime needs a command');
  }
  return [exe, ...args];
}

function taskIdOf(runtimeId: string): string {
  return runtimeId.startsWith(ID_PREFIX) ? runtimeId.slice(ID_PREFIX.length) : runtimeId;
}

/** Task ids become file names: anything outside a safe set could escape the directory. */
function safeName(taskId: string): string {
  return taskId.replace(/[^a-zA-Z0-9_.-]/g, '_').replace(/^\.+/, '_');
}

/** Like a shell signal exit: 128 + signal number, as Docker reports a killed container. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  const n = signal ? os.constants.signals[signal] : undefined;
  return n === undefined ? null : 128 + n;
}

function envPath(task: AssignedTask): string {
  return task.template.env.PATH ?? process.env.PATH ?? '';
}

function buildEnv(task: AssignedTask, hostIp: string, hostPorts: HostPort[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  Object.assign(env, task.template.env);
  // Set last: the process must listen where fleet says the port is.
  env.FLEET_HOST_IP = hostIp;
  env[TASK_ENV] = task.id;
  const first = hostPorts[0];
  if (first) env.PORT = String(first.hostPort);
  for (const p of hostPorts) env[`FLEET_PORT_${p.target}`] = String(p.hostPort);
  return env;
}

async function resolveExecutable(exe: string, pathVar: string): Promise<string | null> {
  const candidates = exe.includes('/')
    ? [path.resolve(exe)]
    : pathVar
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, exe));
  for (const file of candidates) {
    try {
      await fs.access(file, fsConstants.X_OK);
      if ((await fs.stat(file)).isFile()) return file;
    } catch {
      // not here; try the next directory
    }
  }
  return null;
}

/** Ingress ports get a free ephemeral port; host-mode ports with a published port get exactly it. */
async function pickPorts(ports: PortSpec[], hostIp: string): Promise<HostPort[]> {
  const out: HostPort[] = [];
  for (const p of ports) {
    const wanted = p.mode === 'host' && p.published !== undefined ? p.published : 0;
    let hostPort: number;
    try {
      hostPort = await probePort(p.protocol, hostIp, wanted);
    } catch (e) {
      throw new TaskRejectedError(`cannot bind ${p.protocol} ${hostIp}:${wanted}: ${errorText(e)}`);
    }
    out.push({ target: p.target, protocol: p.protocol, hostIp, hostPort });
  }
  return out;
}

/** Binds and releases a port, returning the number the kernel gave. */
function probePort(protocol: 'tcp' | 'udp', host: string, port: number): Promise<number> {
  if (protocol === 'udp') {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      sock.once('error', reject);
      sock.bind(port, host, () => {
        const bound = sock.address().port;
        sock.close(() => resolve(bound));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      server.close(() => resolve(bound));
    });
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Not a group leader (or already gone): signal the process itself.
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Kills what is left of a task's process group once its leader is gone, as Docker does with a
 * container whose main process exits: stray children would otherwise hold ports untracked. The
 * kernel does not hand out a pid that is still some group's id, so this cannot hit a stranger
 * while any member is alive.
 */
function killRemnants(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is already empty
  }
}

/** Names a task's process in its environment, so one spawned but never recorded can be found. */
const TASK_ENV = 'FLEET_TASK_ID';

/** Kills the process groups (Linux) whose leader carries this task id but has no record. */
async function killUnrecorded(taskId: string): Promise<void> {
  if (process.platform !== 'linux') return;
  const marker = `\0${TASK_ENV}=${taskId}\0`;
  let pids: string[];
  try {
    pids = (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n));
  } catch {
    return;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let environ: string;
    try {
      environ = `\0${await fs.readFile(`/proc/${pid}/environ`, 'latin1')}`;
    } catch {
      continue; // gone, or not ours to read
    }
    if (environ.includes(marker)) signalGroup(Number(pid), 'SIGKILL');
  }
}

/** Liveness by pid, guarded against pid reuse and zombies via /proc on Linux. */
function pidAlive(pid: number, procStart: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (stat === null) return process.platform !== 'linux';
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return procStart === null || stat.start === procStart;
}

/**
 * Fields of /proc/<pid>/stat after the command name (which may itself hold spaces or ')').
 * Read synchronously: procfs is in memory, and the spawn path must not yield (see launch).
 */
function procStat(pid: number): { state: string; start: string } | null {
  if (process.platform !== 'linux' || pid <= 0) return null;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); the start time is field 22.
  const state = fields[0];
  const start = fields[19];
  return state && start ? { state, start } : null;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
