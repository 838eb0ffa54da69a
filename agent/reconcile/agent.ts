// The agent: keeps this board's workloads equal to its last assignment, with or without a manager.
import { upgraderFor, type AgentUpgrader } from '../ota/agent-upgrader.js';
import { runLimited, Slots } from '../../shared/limit.js';
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import type { AssignedTask, Assignment } from '../../shared/protocol.js';
import { takeAssignmentDelta, takeFullAssignment } from './assignment-intake.js';
import type { AssignmentIntake } from './assignment-intake.js';
import { decideRestart } from '../../shared/restart-policy.js';
import { ManagerConnection } from '../link/connection.js';
import { IdentityRenewal } from '../link/identity-renewal.js';
import { freshLocal, type LocalTask } from './local-state.js';
import { backgroundKey, plan, type Step } from './planner.js';
import type { RuntimeInfo } from '../runtime/types.js';
import { IngressMesh } from '../ingress/mesh.js';
import { IngressReporter } from '../ingress/report.js';
import { TaskFileStore } from './task-files.js';
import { Drainer } from './drain.js';
import { AssignmentStore } from './assignment-store.js';
import { createExecutors, execute, type Executors } from './executors.js';
import { StatusReporter } from './reporter.js';
import type { AgentImages } from '../images/agent-images.js';
import { imagesForAgent, type ImageLinks } from '../images/images-for-agent.js';
import { usageSource } from '../observe/usage-source.js';
import type { AgentOptions } from './agent-options.js';
import { bundleReportOf } from '../bundle/overlay.js';
import { agentLogStreamer, type LogStreamer } from '../logs/streamer.js';

const STEP_CONCURRENCY = 16;
const REMOVAL_CONCURRENCY = 2;
/** A full pass runs this often even when nothing asks for one. */
const SWEEP_MS = 10_000;
/** The earliest a pass wakes up again for a delayed start. */
const MIN_WAKE_MS = 10;
export { DEFAULT_BLOB_PORT, type AgentOptions, type DiscoveryConsumer } from './agent-options.js';

export class Agent {
  private readonly clock: Clock;
  private readonly conn: ManagerConnection;
  private readonly renewal: IdentityRenewal;
  private readonly files: TaskFileStore;
  readonly store: AssignmentStore;
  private readonly reporter: StatusReporter;
  private readonly executors: Executors;
  private readonly local = new Map<string, LocalTask>();
  /** Templates of tasks seen in assignments, so a task removed from one still stops gracefully. */
  private readonly known = new Map<string, AssignedTask>();
  private info: RuntimeInfo | undefined;
  private passRunning = false;
  private passAgain = false;
  private wakeTimer: TimerHandle | undefined;
  private sweepTimer: TimerHandle | undefined;
  private stopWatch: (() => void) | undefined;
  private closed = false;
  /** Listens on every published ingress port on this node's address and forwards to tasks. */
  readonly mesh: IngressMesh;
  private readonly drainer: Drainer;
  /** Steps running beside the passes (starts, stops, removals), by what they act on. */
  private readonly inFlight = new Set<string>();
  /** How many starts talk to the runtime at once; the rest wait their turn. */
  private readonly startSlots = new Slots(STEP_CONCURRENCY);
  /** Sends the mesh's per-port counters to the manager while they change. */
  private readonly ingressReport: IngressReporter;
  private readonly images: AgentImages;
  private readonly upgrader: AgentUpgrader;
  private readonly logs: LogStreamer;

  constructor(private readonly opts: AgentOptions) {
    const clock = (this.clock = opts.chaos?.clock ?? opts.clock ?? systemClock);
    const random = opts.random ?? Math.random;
    const nodeId = opts.identity.id;
    this.mesh = new IngressMesh({
      nodeId,
      bindHost: opts.advertiseAddr,
      logger: opts.logger.child('ingress'),
      clock,
    });
    this.drainer = new Drainer({
      runtime: opts.runtime,
      routes: (taskId) => this.mesh.routes(taskId),
      logger: opts.logger.child('drain'),
      clock,
    });
    this.files = new TaskFileStore({
      nodeId,
      dataDir: opts.dataDir,
      boxSecretKey: opts.identity.keys.box.secretKey,
      logger: opts.logger.child('files'),
      ...(opts.secretsDir ? { secretsRoot: opts.secretsDir } : {}),
    });
    this.store = new AssignmentStore({
      dataDir: opts.dataDir,
      nodeId,
      clock,
      logger: opts.logger,
      onDiskSpaceBack: () => this.kick(),
    });
    this.conn = this.connect(clock, random);
    this.logs = agentLogStreamer(opts, clock, (topic, body) => this.conn.publish(topic, body, 1));
    this.images = imagesForAgent(opts, clock, this.imageLinks());
    this.upgrader = upgraderFor(opts, this.images, () => this.reporter.sendStatus());
    opts.runtime.useClusterImages?.(this.images);
    const publish = this.conn.publish.bind(this.conn);
    opts.chaos?.attach(() => this.conn, opts.runtime);
    this.renewal = new IdentityRenewal({
      identity: opts.identity,
      dataDir: opts.dataDir,
      clock,
      random,
      logger: opts.logger,
      publish,
      use: (identity) => this.conn.useIdentity(identity),
    });
    this.reporter = new StatusReporter({
      nodeId,
      clock,
      random,
      publish,
      connected: () => this.conn.connected,
      info: () => this.info,
      tasks: () => this.local,
      assignment: () => this.store.current,
      diskFull: () => this.store.diskFull,
      images: () => this.images.reports(),
      upgrade: () => this.upgrader.report(),
      blobServer: () => this.images.blobServer,
      bundle: () => bundleReportOf(this.store.pendingBundle),
      closing: () => this.closed,
      usage: usageSource({ ...opts, clock, tasks: () => this.local }),
      runtimeName: opts.runtime.name,
      address: opts.advertiseAddr,
      ...(opts.profile ? { profile: opts.profile } : {}),
    });
    this.executors = this.makeExecutors(clock);
    this.ingressReport = new IngressReporter({
      nodeId,
      stats: () => this.mesh.stats(),
      publish: (topic, payload) => this.conn.publish(topic, payload, 0),
      session: () => this.conn.connectedTo,
      logger: opts.logger.child('ingress'),
      clock,
    });
  }

  private imageLinks(): ImageLinks {
    return {
      clientId: () => this.conn.clientId,
      publish: (topic, payload) => this.conn.publish(topic, payload, 1),
      identity: () => this.renewal.current,
      changed: () => this.reporter.scheduleStatus(),
    };
  }

  private connect(clock: Clock, random: () => number): ManagerConnection {
    const { opts } = this;
    const intake: AssignmentIntake = {
      nodeId: opts.identity.id,
      logger: opts.logger,
      running: () => this.store.accepted,
      take: (a) => this.take(a),
      askFull: () => this.conn.resubscribeAssignments(),
    };
    return new ManagerConnection(
      opts.identity,
      opts.managers,
      {
        onConnected: () => {
          this.images.onConnected();
          this.reporter.sendStatus(true);
          this.reporter.startHeartbeats();
        },
        onDisconnected: () => {
          this.images.onDisconnected();
          this.logs.stopAll();
          this.reporter.stopHeartbeats();
          this.kick();
        },
        onAssignment: (payload) => void takeFullAssignment(intake, payload),
        onAssignmentDelta: (payload) => void takeAssignmentDelta(intake, payload),
        onRenewReply: (payload) => this.renewal.onReply(payload),
        onIngressTable: (payload) => this.mesh.onTable(payload),
        onDiscoveryTable: (payload) => this.opts.network?.onTable(payload),
        onBlobResponse: (payload) => this.images.client.deliver(payload),
        onLogControl: (payload) => this.logs.onControl(payload),
        ...(opts.chaos ? { onChaosOrder: (p: Buffer) => opts.chaos?.onOrder(p) } : {}),
      },
      opts.logger.child('connection'),
      // Proof timestamps follow the same clock as renewal, so a fake clock stays consistent.
      {
        insecure: opts.insecure === true,
        keepaliveS: () => this.reporter.keepaliveS(),
        clock,
        random,
        ...(opts.clientId ? { clientId: opts.clientId } : {}),
        faults: opts.chaos?.link,
      },
    );
  }

  private makeExecutors(clock: Clock): Executors {
    const { opts } = this;
    return createExecutors({
      nodeId: opts.identity.id,
      ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
      advertiseAddr: opts.advertiseAddr,
      runtime: opts.runtime,
      logger: opts.logger,
      clock,
      drainer: this.drainer,
      files: this.files,
      boxSecretKey: opts.identity.keys.box.secretKey,
      preflight: opts.preflight,
      local: this.local,
      known: this.known,
      startSlots: this.startSlots,
      removalSlots: new Slots(REMOVAL_CONCURRENCY),
      update: (taskId, patch) => this.update(taskId, patch),
      removedTask: (taskId, last) => this.reporter.removedTask(taskId, last),
      isDesired: (taskId) => this.store.desiredIds().has(taskId),
      closing: () => this.closed,
    });
  }

  get nodeId(): string {
    return this.opts.identity.id;
  }

  async start(): Promise<void> {
    const { runtime } = this.opts;
    this.info = await runtime.info();
    await this.store.load();
    await this.opts.network?.start();
    await this.images.start();
    this.stopWatch = runtime.watchExits(this.nodeId, () => this.kick());
    this.kick();
    this.sweepTimer = this.clock.setInterval(() => this.kick(), SWEEP_MS);
    this.conn.start();
    this.renewal.start();
    this.ingressReport.start();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.renewal.stop();
    this.ingressReport.stop();
    this.logs.stopAll();
    this.reporter.close();
    this.store.close();
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    if (this.sweepTimer) this.clock.clearInterval(this.sweepTimer);
    this.stopWatch?.();
    this.drainer.close();
    await this.conn.close();
    await this.mesh.close();
    await this.images.close();
    await this.opts.network?.close();
    await this.opts.runtime.close();
  }

  /** Stops and removes every workload of this node (a dev cluster shutting down). */
  async removeAllWorkloads(): Promise<void> {
    this.closed = true;
    this.store.close();
    const workloads = await this.opts.runtime.list(this.nodeId).catch(() => []);
    await runLimited(workloads, STEP_CONCURRENCY, async (w) => {
      await this.opts.runtime.stop(w.runtimeId, 5_000).catch(() => undefined);
      await this.opts.runtime.remove(w.runtimeId).catch(() => undefined);
    });
    await this.files.sweep(new Set()).catch(() => undefined);
    await this.opts.network?.removeAll().catch(() => undefined);
  }

  /** Local task states, for tests and tooling. */
  tasks = (): ReadonlyMap<string, LocalTask> => this.local;

  get connected(): boolean {
    return this.conn.connected;
  }
  /** When the certificate will next be renewed (clock time), for tests and tooling. */
  get renewalDueAt(): number {
    return this.renewal.dueAt;
  }

  private async take(a: Assignment): Promise<void> {
    if (await this.store.accept(a)) this.kick();
    this.conn.adjustKeepalive();
    this.reporter.periodMayHaveChanged();
    // Images for an update on its way, and those of the tasks here (so their copies are reported).
    this.upgrader.onAssignment(a.agentRelease);
    const images = [...(a.prefetch ?? []), ...a.tasks.flatMap((t) => t.clusterImage ?? [])];
    for (const image of images) this.opts.runtime.prefetch?.(image);
  }

  /** Requests a reconcile pass; passes never overlap. */
  kick(): void {
    if (this.closed) return;
    if (this.passRunning) {
      this.passAgain = true;
      return;
    }
    this.passRunning = true;
    const connected = this.conn.connected;
    void this.pass()
      .then((listed) => listed && connected && this.conn.connected && this.opts.onReconciled?.())
      .finally(() => {
        this.passRunning = false;
        if (this.passAgain && !this.closed) {
          this.passAgain = false;
          this.kick();
        }
      });
  }

  /** One reconcile pass; false when the runtime could not be listed. */
  private async pass(): Promise<boolean> {
    const { runtime, logger } = this.opts;
    const desired = this.store.current?.tasks ?? [];
    for (const t of desired) {
      if (!this.local.has(t.id)) this.local.set(t.id, freshLocal(this.clock.now()));
      this.known.set(t.id, t);
    }
    // What it knew when it looked: a start ending during the listing is not an exit.
    const localAtListing = new Map([...this.local].map(([id, l]) => [id, { ...l }]));
    let observed;
    try {
      observed = await runtime.list(this.nodeId);
    } catch (e) {
      logger.error('cannot list workloads; will retry', { error: String(e) });
      return false;
    }
    const p = plan({
      desired,
      observed,
      local: localAtListing,
      now: this.clock.now(),
      autonomous: !this.conn.connected,
      mayRestartLocally: (task, code) => this.mayRestart(task, code),
    });
    this.wakeAt(p.wakeAt);
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
        await execute(this.executors, step);
        // What it recorded (an exit, say) may call for more: a restart to wake up for.
        this.passAgain = true;
      } else if (!this.inFlight.has(key)) this.inBackground(key, step);
    }
    this.reporter.sendStatus();
    return true;
  }

  /** Arms the one wake-up timer for the plan's next delayed start (or disarms it). */
  private wakeAt(at: number | null): void {
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (at === null) return;
    const delay = Math.max(MIN_WAKE_MS, at - this.clock.now());
    this.wakeTimer = this.clock.setTimeout(() => this.kick(), delay);
  }

  /** A step that waits on the runtime, beside the passes: stops all at once, starts a few at a
   * time (each as soon as a slot frees, not when a whole batch is done). */
  private inBackground(key: string, step: Step): void {
    this.inFlight.add(key);
    const starts = step.kind === 'start' || step.kind === 'restart';
    const run = async (): Promise<void> => execute(this.executors, step);
    void (starts ? this.startSlots.run(run) : run()).finally(() => {
      this.inFlight.delete(key);
      this.kick();
    });
  }

  private mayRestart(task: AssignedTask, exitCode: number | null): boolean {
    const l = this.local.get(task.id);
    const ending = exitCode === 0 ? 'complete' : 'failed';
    return decideRestart(task.template.restart, ending, l?.localRestarts ?? [], this.clock.now())
      .restart;
  }

  private update(taskId: string, patch: Partial<LocalTask>): void {
    const now = this.clock.now();
    const cur = this.local.get(taskId) ?? freshLocal(now);
    const next = { ...cur, ...patch };
    if (patch.state && patch.state !== cur.state) next.at = now;
    this.local.set(taskId, next);
    this.reporter.scheduleStatus();
  }
}
