// The process runtime driver: runs a task's command as a plain detached process, for boards without Docker.
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { platformArch } from '../../../shared/arch.js';
import { holdProcessOpen, systemClock, type Clock } from '../../../shared/clock.js';
import { errorMessage } from '../../../shared/errors.js';
import { silentLogger, type Logger } from '../../../shared/log.js';
import type { AssignedTask } from '../../../shared/protocol.js';
import type { HostPort } from '../../../shared/spec.js';
import { servedConnections } from '../connections.js';
import {
  TaskRejectedError,
  type ExitListener,
  type ObservedWorkload,
  type Runtime,
  type RuntimeInfo,
  type RuntimeStorage,
  type StartOptions,
  type WorkloadUsage,
} from '../types.js';
import { AdoptedProcesses } from './adopted.js';
import type { LogReading, OutputSink, ReadOptions } from '../log-types.js';
import { LogBook, type LogRotation } from './log-book.js';
import { readProcessLog } from './log-reader.js';
import {
  killRemnants,
  killStrays,
  killUnrecorded,
  pidAlive,
  procStat,
  RUNTIME_ENV,
  runtimeMark,
  signalGroup,
} from './liveness.js';
import { pickPorts } from './ports.js';
import { processUsage } from './usage.js';
import { checkProcessOptions, spawnSettings, type SpawnSettings } from './task-options.js';
import { RecordStore, safeName, toWorkload, type ProcessRecord } from './records.js';
import {
  buildEnv,
  commandOf,
  envPath,
  exitCodeOf,
  resolveExecutable,
  spawnDetached,
} from './task-command.js';

export interface ProcessRuntimeOptions {
  dataDir: string;
  logger?: Logger;
  /** Time for start and exit stamps, the stop deadline and the liveness poll. */
  clock?: Clock;
  /** When task logs rotate and how many files each keeps (default 10 MiB × 3). */
  logRotation?: LogRotation;
}

const STOP_POLL_MS = 25;
const KILL_WAIT_MS = 5_000;
const ID_PREFIX = 'proc-';

interface Watch {
  nodeId: string;
  onExit: ExitListener;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process' as const;
  private readonly dataDir: string;
  private readonly logsDir: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly records: RecordStore;
  /** Children spawned by this instance: their 'exit' event gives the real exit code. */
  private readonly children = new Map<string, ChildProcess>();
  /** Live processes from an earlier agent run, polled for liveness (their exit code is lost). */
  private readonly adopted: AdoptedProcesses;
  private readonly watches = new Set<Watch>();
  /** Marks this runtime's task processes, so strays of an earlier run are found once at start. */
  private readonly mark: string;
  private straysChecked = false;
  private readonly logBook: LogBook;

  constructor(opts: ProcessRuntimeOptions) {
    this.dataDir = opts.dataDir;
    this.logsDir = path.join(opts.dataDir, 'logs');
    this.log = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.records = new RecordStore(path.join(opts.dataDir, 'processes'), this.log);
    this.mark = runtimeMark(opts.dataDir);
    this.logBook = new LogBook(this.logsDir, this.clock, this.log, opts.logRotation);
    this.adopted = new AdoptedProcesses({
      clock: this.clock,
      logger: this.log,
      exited: (rec) => this.recordAdoptedExit(rec),
    });
  }

  async info(): Promise<RuntimeInfo> {
    return {
      os: os.platform(),
      arch: platformArch(os.arch()),
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
    await this.records.settled();
    const all = await this.records.readAll();
    if (!this.straysChecked) await this.endStrays(new Set(all.map((r) => r.taskId)));
    const records = all.filter((r) => r.nodeId === nodeId);
    const watched = [...this.watches].some((w) => w.nodeId === nodeId);
    const out: ObservedWorkload[] = [];
    for (const rec of records) {
      const current = await this.refresh(rec);
      const foreign = !current.exited && !this.children.has(current.taskId);
      if (foreign && watched) this.adopted.add(current);
      out.push(toWorkload(current, this.isRunning(current)));
    }
    return out;
  }

  async prepare(task: AssignedTask): Promise<void> {
    await checkProcessOptions(task.template);
    const exe = commandOf(task)[0];
    const env = envPath(task);
    if ((await resolveExecutable(exe, env)) === null) {
      throw new TaskRejectedError(`executable not found: ${exe}`, 'missing-executable');
    }
  }

  async start(task: AssignedTask, opts: StartOptions): Promise<ObservedWorkload> {
    const command = commandOf(task);
    await this.discardStale(task.id);
    const hostPorts = await pickPorts(task.template.ports, opts.hostIp);
    await fs.mkdir(this.records.dir, { recursive: true });
    await fs.mkdir(this.logsDir, { recursive: true });
    const env = buildEnv(task, opts.hostIp, hostPorts);
    env[RUNTIME_ENV] = this.mark;
    // No mount namespace here: the task reads its files by name from these directories.
    if (opts.files?.secretsDir) env.FLEET_SECRETS_DIR = opts.files.secretsDir;
    if (opts.files?.configsDir) env.FLEET_CONFIGS_DIR = opts.files.configsDir;
    const rec = await this.launch(command, env, spawnSettings(task.template), {
      v: 1,
      runtimeId: ID_PREFIX + task.id,
      taskId: task.id,
      serviceName: task.serviceName,
      slot: task.slot,
      nodeId: opts.nodeId,
      image: task.template.image,
      command,
      startedAt: this.clock.now(),
      finishedAt: null,
      exited: false,
      exitCode: null,
      hostPorts,
    });
    return toWorkload(rec, this.isRunning(rec));
  }

  async stop(runtimeId: string, timeoutMs: number): Promise<void> {
    const rec = await this.records.read(taskIdOf(runtimeId));
    if (!rec || !this.isAlive(rec)) return;
    // Not our child: no 'exit' event will come, so the exit is reported by afterStop or the poller.
    if (!this.children.has(rec.taskId)) this.adopted.add(rec);
    // The caller awaits the stop's outcome: the wait must not end with the event loop.
    const release = holdProcessOpen();
    try {
      signalGroup(rec.pid, 'SIGTERM');
      if (await this.waitGone(rec, timeoutMs)) return await this.afterStop(rec);
      signalGroup(rec.pid, 'SIGKILL');
      if (!(await this.waitGone(rec, KILL_WAIT_MS))) {
        throw new Error(`process ${rec.pid} of task ${rec.taskId} survived SIGKILL`);
      }
      return await this.afterStop(rec);
    } finally {
      release();
    }
  }

  /** CPU and memory of each task's process group, read from /proc. */
  async usage(runtimeIds: readonly string[]): Promise<WorkloadUsage[]> {
    const recs = await Promise.all(runtimeIds.map((id) => this.records.read(taskIdOf(id))));
    const live = recs.filter((r): r is ProcessRecord => r !== null && this.isAlive(r));
    return processUsage(live.map((r) => ({ runtimeId: r.runtimeId, pid: r.pid })));
  }

  /** Processes share the host's network: their connections are those on their host ports. */
  async openConnections(runtimeId: string, ports: readonly HostPort[]): Promise<number | null> {
    const rec = await this.records.read(taskIdOf(runtimeId));
    if (!rec || !this.isAlive(rec)) return 0;
    const hostPorts = ports.filter((p) => p.protocol === 'tcp').map((p) => p.hostPort);
    return servedConnections('self', hostPorts);
  }

  async remove(runtimeId: string): Promise<void> {
    const taskId = taskIdOf(runtimeId);
    const rec = await this.records.read(taskId);
    // Like a forced container removal: whatever still runs goes first.
    if (rec && this.isAlive(rec)) await this.stop(runtimeId, 0);
    await this.records.pending(taskId);
    this.children.delete(taskId);
    this.adopted.forget(taskId);
    await this.records.delete(taskId);
    await this.logBook.remove(taskId);
  }

  /** The task's log, rotated copies first; with follow, until the task ends or the reading closes. */
  readLogs(runtimeId: string, opts: ReadOptions, sink: OutputSink): LogReading {
    const taskId = taskIdOf(runtimeId);
    const running = (): boolean => {
      const child = this.children.get(taskId);
      return child
        ? child.exitCode === null && child.signalCode === null
        : this.adopted.has(taskId);
    };
    return readProcessLog({ book: this.logBook, taskId, clock: this.clock, running }, opts, sink);
  }

  watchExits(nodeId: string, onExit: ExitListener): () => void {
    const watch: Watch = { nodeId, onExit };
    this.watches.add(watch);
    void this.adoptLive(nodeId).catch((e: unknown) =>
      this.log.warn('cannot read process records', { error: errorMessage(e) }),
    );
    this.adopted.startPolling();
    this.logBook.start();
    return () => {
      this.watches.delete(watch);
      if (this.watches.size === 0) this.adopted.stopPolling();
    };
  }

  async close(): Promise<void> {
    // The processes themselves keep running: they are meant to outlive the agent.
    this.watches.clear();
    this.adopted.stopPolling();
    this.logBook.stop();
    await this.records.settled();
  }

  /** Spawns the process detached (its own group, outliving the agent) with output to its log. */
  private launch(
    command: string[],
    env: NodeJS.ProcessEnv,
    settings: SpawnSettings,
    base: Omit<ProcessRecord, 'pid' | 'procStart'>,
  ): Promise<ProcessRecord> {
    const [exe = '', ...args] = command;
    const logFile = path.join(this.logsDir, `${safeName(base.taskId)}.log`);
    const child = spawnDetached(exe, args, env, logFile, settings);
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
    const written = this.records.update(rec.taskId, () => rec);
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
        throw new Error(`cannot record the started process: ${errorMessage(e)}`);
      },
    );
  }

  private onChildExit(rec: ProcessRecord, exitCode: number | null): void {
    this.children.delete(rec.taskId);
    killRemnants(rec.pid);
    const finished = this.clock.now();
    void this.records
      .update(rec.taskId, (cur) =>
        cur ? { ...cur, exited: true, exitCode, finishedAt: finished } : null,
      )
      .catch((e: unknown) =>
        this.log.warn('cannot record exit', { taskId: rec.taskId, error: errorMessage(e) }),
      );
    this.emitExit(rec, exitCode);
  }

  private emitExit(rec: ProcessRecord, exitCode: number | null): void {
    for (const w of this.watches) {
      if (w.nodeId !== rec.nodeId) continue;
      try {
        w.onExit(rec.runtimeId, rec.taskId, exitCode);
      } catch (e) {
        this.log.error('exit listener threw', { taskId: rec.taskId, error: errorMessage(e) });
      }
    }
  }

  /** Marks a record exited when its process is gone and nobody else will (adopted or orphaned). */
  private async refresh(rec: ProcessRecord): Promise<ProcessRecord> {
    if (rec.exited || this.children.has(rec.taskId) || this.isAlive(rec)) return rec;
    const marked = { ...rec, exited: true, finishedAt: this.clock.now() };
    // Unrecorded (a full disk), the exit is found again on the next look and written then.
    await this.records
      .update(rec.taskId, (cur) => (cur && !cur.exited ? marked : null))
      .catch((e: unknown) =>
        this.log.warn('cannot record exit', { taskId: rec.taskId, error: errorMessage(e) }),
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
    for (const rec of await this.records.readAll()) {
      if (rec.nodeId !== nodeId || rec.exited || this.children.has(rec.taskId)) continue;
      if (this.isAlive(rec)) this.adopted.add(rec);
    }
  }

  /** Records and reports an adopted process's end; called once, by whoever saw it first. */
  private async recordAdoptedExit(rec: ProcessRecord): Promise<void> {
    killRemnants(rec.pid);
    await this.records
      .update(rec.taskId, (cur) =>
        cur && !cur.exited ? { ...cur, exited: true, finishedAt: this.clock.now() } : null,
      )
      .catch((e: unknown) =>
        this.log.warn('cannot record exit', { taskId: rec.taskId, error: errorMessage(e) }),
      );
    this.emitExit(rec, null);
  }

  private async waitGone(rec: ProcessRecord, timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      if (!this.isAlive(rec)) return true;
      if (this.clock.now() >= deadline) return false;
      await this.clock.sleep(STOP_POLL_MS);
    }
  }

  /** Our own child's exit is recorded by its 'exit' event; an adopted one's is reported here. */
  private async afterStop(rec: ProcessRecord): Promise<void> {
    if (this.adopted.has(rec.taskId)) await this.adopted.reportExit(rec);
    else await this.records.pending(rec.taskId);
  }

  /** Once per agent run: processes of ours that no record names were spawned and never recorded. */
  private async endStrays(recorded: Set<string>): Promise<void> {
    this.straysChecked = true;
    const ended = await killStrays(
      this.mark,
      (taskId) => recorded.has(taskId) || this.children.has(taskId),
    );
    for (const taskId of ended)
      this.log.warn('ended a task process no record names (its agent died while starting it)', {
        taskId,
      });
  }

  /** A record left by an earlier attempt of the same task: kill what is left and forget it. */
  private async discardStale(taskId: string): Promise<void> {
    const rec = await this.records.read(taskId);
    if (rec) await this.remove(rec.runtimeId);
    // An agent killed between spawn and the first record write left a process nobody tracks.
    else if (!this.children.has(taskId)) await killUnrecorded(taskId);
  }
}

function taskIdOf(runtimeId: string): string {
  return runtimeId.startsWith(ID_PREFIX) ? runtimeId.slice(ID_PREFIX.length) : runtimeId;
}
