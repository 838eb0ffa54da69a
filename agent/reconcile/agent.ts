// The agent: keeps this board's workloads equal to its last assignment, with or without a manager.
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { runLimited, Slots } from '../../shared/limit.js';
import { readJsonFile, removeStaleTemps, writeFileAtomic } from '../../shared/atomic-file.js';
import { systemClock, unrefSleep as sleep, type Clock } from '../../shared/clock.js';
import type { Certificate, Identity } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import {
  decode,
  encode,
  assignmentSchema,
  renewReplySchema,
  topics,
  type Assignment,
  type AssignedTask,
  type RenewRequest,
  type StatusMessage,
} from '../../shared/protocol.js';
import { decideRestart } from '../../shared/restart-policy.js';
import { ManagerConnection } from '../link/connection.js';
import { CertRenewer } from '../link/renewal.js';
import { freshLocal, toReport, type LocalTask } from './local-state.js';
import { plan, type Step } from './planner.js';
import { isTaskRejected, type Runtime, type RuntimeInfo } from '../runtime/types.js';
import { IngressMesh } from '../ingress/mesh.js';
import { IngressReporter } from '../ingress/report.js';
import { TaskFileStore } from './task-files.js';
import { Drainer } from './drain.js';

export const AGENT_VERSION = '0.1.0';
const DEFAULT_HEARTBEAT_MS = 2_000;
const STEP_CONCURRENCY = 16;
const REMOVAL_CONCURRENCY = 2;
/** A removal waits for the starts under way, but no longer than this. */
const REMOVAL_DEFER_MAX_MS = 30_000;
/** While the disk is full, the assignment is written again this often until it fits. */
const DISK_RETRY_MS = 2_000;

export interface AgentOptions {
  identity: Identity;
  managers: string[];
  dataDir: string;
  advertiseAddr: string;
  runtime: Runtime;
  logger: Logger;
  /** Where unsealed secrets are written; by default memory-backed storage found at start. */
  secretsDir?: string;
  /** Plain TCP to a manager started with --insecure. */
  insecure?: boolean;
  /** Drives certificate renewal; tests give a fake one. */
  clock?: Clock;
  /** Refuses a task the node has no memory or disk for (TaskRejectedError), before pull and start. */
  preflight?: { check(task: AssignedTask): Promise<void> };
}

/** How long a renewal request waits for the manager's reply before it counts as failed. */
const RENEW_REPLY_TIMEOUT_MS = 30_000;

export class Agent {
  private readonly conn: ManagerConnection;
  private readonly renewer: CertRenewer;
  /** The identity in use: renewal replaces its certificate while the agent runs. */
  private identity: Identity;
  private readonly renewWaiters = new Map<string, (cert: Certificate | Error) => void>();
  private readonly files: TaskFileStore;
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
  private diskRetryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private persisting: Promise<void> = Promise.resolve();
  /** Listens on every published ingress port on this node's address and forwards to tasks. */
  readonly mesh: IngressMesh;
  private readonly drainer: Drainer;
  /** Steps running beside the passes (starts, stops, removals), by what they act on. */
  private readonly inFlight = new Set<string>();
  /** How many starts talk to the runtime at once; the rest wait their turn. */
  private readonly startSlots = new Slots(STEP_CONCURRENCY);
  /** Removals of stopped workloads: after the starts, and few at once. */
  private readonly removalSlots = new Slots(REMOVAL_CONCURRENCY);
  /** Sends the mesh's per-port counters to the manager while they change. */
  private readonly ingressReport: IngressReporter;

  constructor(private readonly opts: AgentOptions) {
    this.identity = opts.identity;
    this.mesh = new IngressMesh({
      nodeId: opts.identity.id,
      bindHost: opts.advertiseAddr,
      logger: opts.logger.child('ingress'),
    });
    this.drainer = new Drainer({
      runtime: opts.runtime,
      routes: (taskId) => this.mesh.routes(taskId),
      logger: opts.logger.child('drain'),
    });
    this.files = new TaskFileStore({
      nodeId: opts.identity.id,
      dataDir: opts.dataDir,
      boxSecretKey: opts.identity.keys.box.secretKey,
      logger: opts.logger.child('files'),
      ...(opts.secretsDir ? { secretsRoot: opts.secretsDir } : {}),
    });
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
        onRenewReply: (payload) => this.onRenewReply(payload),
        onIngressTable: (payload) => this.mesh.onTable(payload),
      },
      opts.logger.child('connection'),
      // Proof timestamps follow the same clock as renewal, so a fake clock stays consistent.
      { insecure: opts.insecure === true, now: () => (opts.clock ?? systemClock).now() },
    );
    this.ingressReport = new IngressReporter({
      nodeId: opts.identity.id,
      stats: () => this.mesh.stats(),
      publish: (topic, payload) => this.conn.publish(topic, payload, 0),
      session: () => this.conn.connectedTo,
      logger: opts.logger.child('ingress'),
    });
    this.renewer = new CertRenewer({
      clock: opts.clock ?? systemClock,
      logger: opts.logger.child('renewal'),
      identity: () => this.identity,
      request: (req) => this.requestRenewal(req),
      adopt: async (identity) => {
        // Saved before it is used: a crash in between leaves the old, still valid, certificate.
        await writeFileAtomic(
          path.join(this.opts.dataDir, 'identity.json'),
          JSON.stringify(identity, null, 2) + '\n',
        );
        this.identity = identity;
        this.conn.useIdentity(identity);
      },
    });
  }

  private requestRenewal(req: RenewRequest): Promise<Certificate> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.renewWaiters.delete(req.id);
        reject(new Error('no renewal reply from the manager'));
      }, RENEW_REPLY_TIMEOUT_MS);
      timer.unref();
      this.renewWaiters.set(req.id, (r) => {
        clearTimeout(timer);
        this.renewWaiters.delete(req.id);
        if (r instanceof Error) reject(r);
        else resolve(r);
      });
      if (!this.conn.publish(topics.renew(this.nodeId), encode(req), 1)) {
        this.renewWaiters.get(req.id)?.(new Error('not connected to a manager'));
      }
    });
  }

  private onRenewReply(payload: Buffer): void {
    const d = decode(renewReplySchema, payload);
    if (!d.ok) return this.opts.logger.warn('dropped renewal reply', { reason: d.reason });
    this.renewWaiters.get(d.value.id)?.(
      d.value.ok ? d.value.cert : new Error(`renewal refused: ${d.value.error}`),
    );
  }

  get nodeId(): string {
    return this.opts.identity.id;
  }

  async start(): Promise<void> {
    const { runtime, logger } = this.opts;
    this.info = await runtime.info();
    // A power cut in the middle of a write leaves its temp file; nothing else ever removes it.
    await removeStaleTemps(this.assignmentFile()).catch(() => 0);
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
    this.renewer.start();
    this.ingressReport.start();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.renewer.stop();
    this.ingressReport.stop();
    for (const t of [this.wakeTimer, this.hbTimer, this.statusTimer, this.diskRetryTimer])
      if (t) clearTimeout(t);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.stopWatch?.();
    this.drainer.close();
    await this.conn.close();
    await this.mesh.close();
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
    await this.files.sweep(new Set()).catch(() => undefined);
  }

  /** Snapshot of local task states, for tests and `inspect`-style tooling. */
  tasks(): ReadonlyMap<string, LocalTask> {
    return this.local;
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  /** When the certificate will next be renewed (clock time), for tests and tooling. */
  get renewalDueAt(): number {
    return this.renewer.dueAt;
  }

  private assignmentFile(): string {
    return path.join(this.opts.dataDir, 'assignment.json');
  }

  private async onAssignment(payload: Buffer): Promise<void> {
    // A manager that stops leading clears its retained copy: that is no order to stop anything.
    if (payload.length === 0) return;
    const d = decode(assignmentSchema, payload);
    if (!d.ok) return this.opts.logger.warn('dropped assignment', { reason: d.reason });
    const a = d.value;
    if (a.nodeId !== this.nodeId)
      return this.opts.logger.warn('dropped assignment for another node', { nodeId: a.nodeId });
    if (isOlderAssignment(a, this.assignment))
      return this.opts.logger.warn('ignored an older assignment', {
        version: a.version,
        running: this.assignment?.version,
      });
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
      if (this.diskFull) this.opts.logger.info('disk space is back; the assignment is saved');
      this.diskFull = false;
    } catch (e) {
      const full = /ENOSPC|EDQUOT/.test(String(e));
      // Retries while the disk stays full would repeat the same line every few seconds.
      if (!(full && this.diskFull)) {
        this.opts.logger.error('could not persist the assignment; running it from memory', {
          error: String(e),
        });
      }
      this.diskFull = full;
      if (full) this.retryPersistLater();
    }
  }

  /** Writes the newest assignment again later, so the flag clears once space returns. */
  private retryPersistLater(): void {
    if (this.diskRetryTimer || this.closed) return;
    this.diskRetryTimer = setTimeout(() => {
      this.diskRetryTimer = undefined;
      const a = this.assignment;
      if (!a || this.closed) return;
      const write = this.persisting.then(() => this.persistAssignment(a));
      this.persisting = write;
      // A cleared flag reaches the manager with the next status, which a pass sends.
      void write.then(() => {
        if (!this.diskFull) this.kick();
      });
    }, DISK_RETRY_MS);
    this.diskRetryTimer.unref();
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
    // What the agent knew when it looked: a start that ends during the listing must not make
    // the listing's not-yet-started container read as an exit.
    const localAtListing = new Map([...this.local].map(([id, l]) => [id, { ...l }]));
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
      local: localAtListing,
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
    // Secret and config files live exactly as long as their task is wanted or still exists.
    await this.files.sweep(new Set([...desiredIds, ...observedIds])).catch((e: unknown) => {
      logger.warn('could not clean up task files', { error: String(e) });
    });
    for (const step of p.steps) {
      const key = backgroundKey(step);
      if (key === null) {
        await this.execute(step);
        // What it recorded (an exit, say) may call for more: a restart to wake up for.
        this.passAgain = true;
      } else if (!this.inFlight.has(key)) this.inBackground(key, step);
    }
    this.sendStatus();
  }

  /**
   * Runs a step that waits on the runtime beside the passes, which go on seeing the other
   * tasks: stops (a drain, a grace period) all at once, starts a few at a time. A start
   * begins as soon as a slot frees, not when a whole batch is done.
   */
  private inBackground(key: string, step: Step): void {
    this.inFlight.add(key);
    const starts = step.kind === 'start' || step.kind === 'restart';
    const run = starts ? this.startSlots.run(() => this.execute(step)) : this.execute(step);
    void run.finally(() => {
      this.inFlight.delete(key);
      this.kick();
    });
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
          health: step.workload.health ?? 'none',
          error: null,
        });
      case 'health':
        return this.update(step.task.id, { health: step.workload.health ?? 'none' });
      case 'unhealthy': {
        const w = step.workload;
        const why = w.healthOutput ? `: ${w.healthOutput}` : '';
        logger.warn('task is unhealthy; stopping it', {
          taskId: step.task.id,
          output: w.healthOutput,
        });
        this.update(step.task.id, {
          state: 'failed',
          message: 'unhealthy',
          error: `health check failed${why}`,
          health: 'unhealthy',
          lastExitAt: now,
        });
        // Reported failed, it leaves the routing tables: new connections go elsewhere before
        // the stop, which may end the task at once.
        await this.drainer.leaveTable(w);
        await runtime
          .stop(w.runtimeId, step.task.template.stopGracePeriodMs)
          .catch((e: unknown) => {
            logger.warn('could not stop an unhealthy task', {
              taskId: step.task.id,
              error: String(e),
            });
          });
        return;
      }
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
        const template = this.known.get(w.taskId)?.template;
        if (this.drainer.needed(w, template)) {
          if (this.local.has(w.taskId)) this.update(w.taskId, { message: 'draining' });
          await this.drainer.drain(w, template);
          // An agent shutting down leaves its workloads running.
          if (this.closed) return;
        }
        try {
          await runtime.stop(w.runtimeId, template?.stopGracePeriodMs ?? 10_000);
        } catch (e) {
          logger.warn('could not stop workload', { runtimeId: w.runtimeId, error: String(e) });
          return;
        }
        // Stopped is what the manager waits for (a stop-first update starts the replacement):
        // reported now, while the engine still removes the container.
        const l = this.local.get(w.taskId) ?? freshLocal(now);
        this.local.delete(w.taskId);
        this.known.delete(w.taskId);
        this.removed.set(w.taskId, { ...l, state: 'shutdown', message: step.reason, at: now });
        this.scheduleStatus();
        // The engine's time goes to starts first (a stop-first update waits for them), then to
        // removals, a few at a time: a stopped container holds nothing but its disk.
        await Promise.race([this.startSlots.idle(), sleep(REMOVAL_DEFER_MAX_MS)]);
        await this.removalSlots.run(async () => {
          try {
            await runtime.remove(w.runtimeId);
            if (!desiredIds(this.assignment).has(w.taskId)) await this.files.remove(w.taskId);
          } catch (e) {
            // Still listed as a stopped workload: the next pass removes it again.
            logger.warn('could not remove workload', { runtimeId: w.runtimeId, error: String(e) });
          }
        });
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
      await this.opts.preflight?.check(task);
      await runtime.prepare(task);
      // A pull of unknown size may have eaten into the reserve: checked again before the start.
      await this.opts.preflight?.check(task);
      const files = await this.files.materialize(task);
      this.update(task.id, { state: 'starting', message: 'starting' });
      const w = await runtime.start(task, {
        nodeId: this.nodeId,
        hostIp: this.opts.advertiseAddr,
        files,
      });
      this.update(task.id, {
        state: 'running',
        message: 'running',
        runtimeId: w.runtimeId,
        hostPorts: w.hostPorts,
        health: w.health ?? 'none',
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

/**
 * Versions are the cluster's log index and only grow: a lower one comes from a manager that used
 * to lead and still holds an old retained assignment, and must not undo the newer one running.
 */
export function isOlderAssignment(next: Assignment, running: Assignment | null): boolean {
  return running !== null && next.version < running.version;
}

/** What a slow step acts on, so a pass does not start it twice; null for a step done inline. */
function backgroundKey(step: Step): string | null {
  switch (step.kind) {
    case 'start':
    case 'restart':
      return `task:${step.task.id}`;
    case 'remove':
    case 'unhealthy':
      return `workload:${step.workload.runtimeId}`;
    default:
      return null;
  }
}

function desiredIds(a: Assignment | null): Set<string> {
  return new Set((a?.tasks ?? []).map((t) => t.id));
}
