// The agent: keeps this board's workloads equal to its last assignment, with or without a manager.
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { readJsonFile, writeFileAtomic } from '../shared/atomic-file.js';
import type { Identity } from '../shared/identity.js';
import type { Logger } from '../shared/log.js';
import {
  decode,
  encode,
  assignmentSchema,
  topics,
  type Assignment,
  type AssignedTask,
  type StatusMessage,
} from '../shared/protocol.js';
import { decideRestart } from '../shared/restart-policy.js';
import { ManagerConnection } from './connection.js';
import { freshLocal, toReport, type LocalTask } from './local-state.js';
import { plan, type Step } from './planner.js';
import { isTaskRejected, type Runtime, type RuntimeInfo } from './runtime/types.js';

export const AGENT_VERSION = '0.1.0';
const DEFAULT_HEARTBEAT_MS = 2_000;
const STEP_CONCURRENCY = 16;

export interface AgentOptions {
  identity: Identity;
  managers: string[];
  dataDir: string;
  advertiseAddr: string;
  runtime: Runtime;
  logger: Logger;
}

export class Agent {
  private readonly conn: ManagerConnection;
  private assignment: Assignment | null = null;
  private readonly local = new Map<string, LocalTask>();
  private readonly removed = new Map<string, LocalTask>();
  /** Templates of tasks seen in assignments, so a task removed from one still stops gracefully. */
  private readonly known = new Map<string, AssignedTask>();
  private info: RuntimeInfo | undefined;
  private passRunning = false;
  private passAgain = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private stopWatch: (() => void) | undefined;
  private hbSeq = 0;
  private diskFull = false;
  private closed = false;
  private persisting: Promise<void> = Promise.resolve();

  constructor(private readonly opts: AgentOptions) {
    this.conn = new ManagerConnection(
      opts.identity,
      opts.managers,
      {
        onConnected: () => {
          this.sendStatus();
          this.scheduleHeartbeat(0);
        },
        onDisconnected: () => {
          if (this.hbTimer) clearTimeout(this.hbTimer);
          this.kick();
        },
        onAssignment: (payload) => void this.onAssignment(payload),
      },
      opts.logger.child('connection'),
    );
  }

  get nodeId(): string {
    return this.opts.identity.id;
  }

  async start(): Promise<void> {
    const { runtime, logger } = this.opts;
    this.info = await runtime.info();
    const saved = await readJsonFile(this.assignmentFile()).catch((e: unknown) => {
      logger.warn('could not read the saved assignment; starting empty', { error: String(e) });
      return undefined;
    });
    if (saved !== undefined) {
      const d = assignmentSchema.safeParse(saved);
      if (d.success && d.data.nodeId === this.nodeId) this.assignment = d.data;
      else logger.warn('ignoring an unreadable saved assignment');
    }
    this.stopWatch = runtime.watchExits(this.nodeId, () => this.kick());
    this.kick();
    this.sweepTimer = setInterval(() => this.kick(), 10_000);
    this.sweepTimer.unref();
    this.conn.start();
  }

  async stop(): Promise<void> {
    this.closed = true;
    for (const t of [this.wakeTimer, this.hbTimer, this.statusTimer]) if (t) clearTimeout(t);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.stopWatch?.();
    await this.conn.close();
    await this.opts.runtime.close();
  }

  /** Stops and removes every workload of this node (a dev cluster shutting down). */
  async removeAllWorkloads(): Promise<void> {
    this.closed = true;
    const workloads = await this.opts.runtime.list(this.nodeId).catch(() => []);
    await runLimited(workloads, STEP_CONCURRENCY, async (w) => {
      await this.opts.runtime.stop(w.runtimeId, 5_000).catch(() => undefined);
      await this.opts.runtime.remove(w.runtimeId).catch(() => undefined);
    });
  }

  /** Snapshot of local task states, for tests and `inspect`-style tooling. */
  tasks(): ReadonlyMap<string, LocalTask> {
    return this.local;
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  private assignmentFile(): string {
    return path.join(this.opts.dataDir, 'assignment.json');
  }

  private async onAssignment(payload: Buffer): Promise<void> {
    const d = decode(assignmentSchema, payload);
    if (!d.ok) return this.opts.logger.warn('dropped assignment', { reason: d.reason });
    const a = d.value;
    if (a.nodeId !== this.nodeId)
      return this.opts.logger.warn('dropped assignment for another node', { nodeId: a.nodeId });
    this.assignment = a;
    // One write at a time, in arrival order: the file must end up holding the newest assignment.
    const write = this.persisting.then(() => this.persistAssignment(a));
    this.persisting = write;
    await write;
    this.kick();
  }

  private async persistAssignment(a: Assignment): Promise<void> {
    try {
      await fs.mkdir(this.opts.dataDir, { recursive: true });
      await writeFileAtomic(this.assignmentFile(), JSON.stringify(a));
      this.diskFull = false;
    } catch (e) {
      this.diskFull = /ENOSPC/.test(String(e));
      this.opts.logger.error('could not persist the assignment; running it from memory', {
        error: String(e),
      });
    }
  }

  /** Requests a reconcile pass; passes never overlap. */
  kick(): void {
    if (this.closed) return;
    if (this.passRunning) {
      this.passAgain = true;
      return;
    }
    this.passRunning = true;
    void this.pass().finally(() => {
      this.passRunning = false;
      if (this.passAgain && !this.closed) {
        this.passAgain = false;
        this.kick();
      }
    });
  }

  private async pass(): Promise<void> {
    const { runtime, logger } = this.opts;
    const desired = this.assignment?.tasks ?? [];
    for (const t of desired) {
      if (!this.local.has(t.id)) this.local.set(t.id, freshLocal(Date.now()));
      this.known.set(t.id, t);
    }
    let observed;
    try {
      observed = await runtime.list(this.nodeId);
    } catch (e) {
      logger.error('cannot list workloads; will retry', { error: String(e) });
      return;
    }
    const p = plan({
      desired,
      observed,
      local: this.local,
      now: Date.now(),
      autonomous: !this.conn.connected,
      mayRestartLocally: (task, code) => this.mayRestart(task, code),
    });
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (p.wakeAt !== null)
      this.wakeTimer = setTimeout(() => this.kick(), Math.max(10, p.wakeAt - Date.now()));
    const desiredIds = new Set(desired.map((t) => t.id));
    const observedIds = new Set(observed.map((w) => w.taskId));
    for (const id of [...this.local.keys()]) {
      if (desiredIds.has(id) || observedIds.has(id)) continue;
      this.local.delete(id);
      this.known.delete(id);
    }
    if (p.steps.length > 0) {
      await runLimited(p.steps, STEP_CONCURRENCY, (s) => this.execute(s));
      this.passAgain = true;
    }
    this.sendStatus();
  }

  private mayRestart(task: AssignedTask, exitCode: number | null): boolean {
    const l = this.local.get(task.id);
    const ending = exitCode === 0 ? 'complete' : 'failed';
    return decideRestart(task.template.restart, ending, l?.localRestarts ?? [], Date.now()).restart;
  }

  private async execute(step: Step): Promise<void> {
    const { runtime, logger } = this.opts;
    const now = Date.now();
    switch (step.kind) {
      case 'start':
        return this.startTask(step.task);
      case 'adopt':
        return this.update(step.task.id, {
          state: 'running',
          message: 'running',
          runtimeId: step.workload.runtimeId,
          hostPorts: step.workload.hostPorts,
          error: null,
        });
      case 'exited': {
        const code = step.workload.exitCode;
        return this.update(step.task.id, {
          state: code === 0 ? 'complete' : 'failed',
          message: code === 0 ? 'finished' : 'exited',
          error: code === 0 ? null : `task exited with code ${code ?? 'unknown'}`,
          exitCode: code,
          lastExitAt: step.workload.finishedAt ?? now,
        });
      }
      case 'restart': {
        logger.info('restarting task while the manager is unreachable', { taskId: step.task.id });
        await runtime.remove(step.workload.runtimeId).catch(() => undefined);
        const l = this.local.get(step.task.id);
        if (l) {
          l.localRestarts.push(now);
          l.restarts++;
        }
        return this.startTask(step.task);
      }
      case 'remove': {
        const w = step.workload;
        try {
          await runtime.stop(
            w.runtimeId,
            this.known.get(w.taskId)?.template.stopGracePeriodMs ?? 10_000,
          );
          await runtime.remove(w.runtimeId);
        } catch (e) {
          logger.warn('could not remove workload', { runtimeId: w.runtimeId, error: String(e) });
          return;
        }
        const l = this.local.get(w.taskId) ?? freshLocal(now);
        this.local.delete(w.taskId);
        this.known.delete(w.taskId);
        this.removed.set(w.taskId, { ...l, state: 'shutdown', message: step.reason, at: now });
        return;
      }
    }
  }

  private async startTask(task: AssignedTask): Promise<void> {
    const { runtime } = this.opts;
    try {
      this.update(task.id, {
        state: 'preparing',
        message: 'preparing',
        error: null,
        exitCode: null,
      });
      await runtime.prepare(task);
      this.update(task.id, { state: 'starting', message: 'starting' });
      const w = await runtime.start(task, { nodeId: this.nodeId, hostIp: this.opts.advertiseAddr });
      this.update(task.id, {
        state: 'running',
        message: 'running',
        runtimeId: w.runtimeId,
        hostPorts: w.hostPorts,
      });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.opts.logger.warn('task could not start', { taskId: task.id, error: msg });
      this.update(task.id, {
        state: isTaskRejected(e) ? 'rejected' : 'failed',
        message: isTaskRejected(e) ? 'rejected' : 'start failed',
        error: msg,
        lastExitAt: Date.now(),
      });
    }
  }

  private update(taskId: string, patch: Partial<LocalTask>): void {
    const cur = this.local.get(taskId) ?? freshLocal(Date.now());
    const next = { ...cur, ...patch };
    if (patch.state && patch.state !== cur.state) next.at = Date.now();
    this.local.set(taskId, next);
    this.scheduleStatus();
  }

  private scheduleStatus(): void {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.sendStatus();
    }, 50);
  }

  private sendStatus(): void {
    if (!this.conn.connected || !this.info) return;
    const now = Date.now();
    for (const [id, r] of this.removed) if (now - r.at > 60_000) this.removed.delete(id);
    const tasks = [...this.local].map(([id, l]) => toReport(id, l));
    for (const [id, r] of this.removed) if (!this.local.has(id)) tasks.push(toReport(id, r));
    const msg: StatusMessage = {
      v: 1,
      ts: now,
      assignmentVersion: this.assignment?.version ?? 0,
      tasks: tasks.slice(0, 1000),
      node: {
        resources: { cpus: this.info.cpus, memoryBytes: this.info.memoryBytes },
        platform: { os: this.info.os, arch: this.info.arch },
        runtime: this.opts.runtime.name,
        address: this.opts.advertiseAddr,
        agentVersion: AGENT_VERSION,
        diskFull: this.diskFull,
      },
    };
    this.conn.publish(topics.status(this.nodeId), encode(msg), 1);
  }

  private scheduleHeartbeat(delay: number): void {
    if (this.hbTimer) clearTimeout(this.hbTimer);
    this.hbTimer = setTimeout(() => {
      if (!this.conn.connected || this.closed) return;
      this.conn.publish(
        topics.heartbeat(this.nodeId),
        encode({ v: 1, seq: this.hbSeq++, ts: Date.now() }),
        0,
      );
      const period = this.assignment?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
      // Jitter spreads a rack's heartbeats so they do not arrive in bursts.
      this.scheduleHeartbeat(period * (0.75 + Math.random() * 0.25));
    }, delay);
  }
}

async function runLimited<T>(
  items: T[],
  limit: number,
  fn: (t: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
