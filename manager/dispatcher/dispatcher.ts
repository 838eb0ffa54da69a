// The dispatcher: heartbeats and task status in, per-node assignments out, batched into the store.
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { PREFIX, decode, heartbeatSchema, statusSchema } from '../../shared/protocol.js';
import { takesTasks } from '../../shared/spec.js';
import type { Broker } from '../broker/broker.js';
import type { Principal } from '../broker/acl.js';
import type { LeaderPart } from '../leader/controller.js';
import { emptyChangeSet, type ChangeSet, type Command } from '../store/commands.js';
import { isWriteConflict } from '../store/conflict.js';
import type { Propose, StoreView } from '../store/view.js';
import { HealthTracker, switchHoldMs } from './health.js';
import { NodeLinks, unknownAfterRestart } from './node-links.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import { FLUSH_MS, MAX_BATCH, StatusBatch, batchCommands } from './status-batch.js';
import { ProtocolGate } from './protocol-gate.js';
import { workerClientId } from '../../shared/worker.js';
import { withFiles, withRegistryAuth, type PinMemo } from './task-files.js';
import { assignedTasks, prefetchFor } from './task-image.js';
import type { ImagePresence } from '../images/presence.js';
import { agentReleaseFor } from '../upgrader/target.js';
import { ASSIGNMENT_DELTAS } from '../../shared/assignment-delta.js';
import { AssignmentSender, type AssignmentDraft } from './assignment-sender.js';
import type { UsageBook } from '../observe/usage-book.js';

export interface DispatcherDeps {
  store: StoreView;
  propose: Propose;
  broker: Broker;
  logger: Logger;
  clock: Clock;
  heartbeatMs: number;
  /** Opens secret values at rest, to seal them to the node that runs the task. */
  dataKey: Uint8Array;
  /**
   * Asked at each start: whether nodes recorded ready are marked unknown until heard from (after
   * a lone manager restarts nobody has been heard yet; after a failover the previous leader
   * heard them a moment ago). No by default.
   */
  markUnknownOnStart?: () => boolean;
  /** Which nodes hold which cluster images: fed from statuses, read for peer lists. */
  imagePresence?: ImagePresence;
  /** Usage summaries asked of agents every statsMs (absent or 0: none), kept in usage. */
  statsMs?: number;
  usage?: UsageBook;
}

/** Assignments worked out between two looks at the event loop. */
const YIELD_EVERY = 200;
/** A failed write (a full disk) is retried this much later, not in a tight loop. */
const RETRY_MS = 1_000;

export class Dispatcher implements LeaderPart {
  private readonly health: HealthTracker;
  /** Each node's link profile: heartbeat period, keepalive and down detection. */
  private readonly links: NodeLinks;
  private readonly complaints: RateLimitedLog;
  private readonly gate: ProtocolGate;
  private readonly sender: AssignmentSender;
  private readonly nodeTopic = new RegExp(`^${PREFIX}/nodes/([^/]+)/(hb|status|will)$`);
  /** Reports not yet written, by node and task: the latest of each wins. */
  private readonly pending = new StatusBatch();
  private readonly dirtyAssignments = new Set<string>();
  private flushTimer: TimerHandle | undefined;
  private flushing = false;
  private healthTimer: TimerHandle | undefined;
  private assignScheduled = false;
  private stopped = true;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.links = new NodeLinks({
      node: (id) => deps.store.node(id),
      heartbeatMs: deps.heartbeatMs,
      isConnected: (clientId) => deps.broker.isConnected(clientId),
    });
    this.health = new HealthTracker(deps.heartbeatMs, 3, (id) => this.links.healthTiming(id));
    this.complaints = new RateLimitedLog(deps.logger, 5_000, deps.clock);
    this.gate = new ProtocolGate(deps, this.complaints);
    this.sender = new AssignmentSender(deps.broker, deps.logger);
  }

  /** Subscribes to the nodes' topics once; messages count only while started (leading). */
  attach(): void {
    const { broker, clock } = this.deps;
    broker.onMessage(`${PREFIX}/nodes/`, (topic, payload, principal) => {
      if (!this.stopped) this.onNodeMessage(topic, payload, principal);
    });
    // Only an agent's connection counts: a manager's Raft links use its id as client id, its
    // blob replicator <id>.blobs; its agent is <id>.agent (shared/worker.ts).
    const agentOf = (clientId: string, p: Principal): p is Principal & { kind: 'node' } =>
      p.kind === 'node' && clientId === (p.role === 'manager' ? workerClientId(p.id) : p.id);
    broker.events.onConnect = (clientId, p) => {
      if (!agentOf(clientId, p)) return;
      this.health.connected(p.id, clock.now());
      // Another agent may be behind this connection: full sets until its status says otherwise.
      this.sender.noteDeltas(p.id, false);
    };
    broker.events.onDisconnect = (clientId, p) => {
      if (agentOf(clientId, p)) this.health.disconnected(p.id, clock.now());
    };
  }

  /**
   * Starts serving as the leader's dispatcher. Nobody is marked down for the change: every node
   * gets a full grace period to find this manager.
   */
  async start(): Promise<void> {
    const { store, clock } = this.deps;
    this.stopped = false;
    const grace = this.deps.heartbeatMs * 2;
    this.health.grace(
      [...store.nodes()].map((n) => n.id),
      clock.now(),
      grace,
    );
    if (this.deps.markUnknownOnStart?.()) await this.markUnknown();
    this.unsubscribe ??= store.onChange((c) => this.noteChange(c));
    for (const n of store.nodes()) this.dirtyAssignments.add(n.id);
    await this.publishAssignments();
    this.armHealth();
  }

  /** Stops writing (no longer the leader) and withdraws the assignments this broker retained. */
  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.flushTimer) this.deps.clock.clearTimeout(this.flushTimer);
    if (this.healthTimer) this.deps.clock.clearTimeout(this.healthTimer);
    this.flushTimer = undefined;
    this.healthTimer = undefined;
    this.pending.clear();
    this.deps.usage?.clear();
    this.sender.withdrawAll();
  }

  /** After a single manager restarts, `node ls` must not claim nodes are ready unheard. */
  private async markUnknown(): Promise<void> {
    const { store, clock } = this.deps;
    const unknown = unknownAfterRestart(store.nodes(), clock.now());
    if (unknown.length === 0) return;
    // Only a hint for `node ls`: a manager started on a full disk still starts.
    await this.deps.propose({ commands: unknown }).catch((e: unknown) => {
      this.complaints.error('write:restart', 'could not mark nodes unknown after a restart', {
        error: String(e),
      });
    });
  }

  /** Milliseconds since the node was last heard, while this dispatcher serves (leads). */
  heartbeatAge(nodeId: string): number | undefined {
    return this.stopped ? undefined : this.health.age(nodeId, this.deps.clock.now());
  }

  forgetNode(nodeId: string): void {
    this.health.forget(nodeId);
    this.deps.imagePresence?.forget(nodeId);
    this.deps.usage?.forget(nodeId);
    this.sender.forget(nodeId);
  }

  private onNodeMessage(topic: string, payload: Buffer, principal: Principal | undefined): void {
    const m = this.nodeTopic.exec(topic);
    if (!m || !m[1]) return;
    const nodeId = m[1];
    if (principal && (principal.kind !== 'node' || principal.id !== nodeId)) return;
    if (m[2] === 'hb') return this.onHeartbeat(nodeId, payload);
    if (m[2] === 'status') return this.onStatus(nodeId, payload);
    // A will published for an old connection can arrive after the node reconnected: ignore it then.
    if (m[2] === 'will' && !this.deps.broker.isConnected(nodeId)) {
      this.health.disconnected(nodeId, this.deps.clock.now());
    }
  }

  private onHeartbeat(nodeId: string, payload: Buffer): void {
    const d = decode(heartbeatSchema, payload);
    if (!d.ok)
      return this.complaints.warn(`hb:${nodeId}:${d.reason}`, 'dropped heartbeat', {
        nodeId,
        reason: d.reason,
      });
    const node = this.deps.store.node(nodeId);
    if (!node || this.gate.isRefused(nodeId)) return;
    this.health.beat(nodeId, this.deps.clock.now());
    if (d.value.usage) this.deps.usage?.record(nodeId, d.value.usage);
    if (node.status !== 'ready' && this.pending.status.get(nodeId) !== 'ready') {
      this.pending.status.set(nodeId, 'ready');
      this.scheduleFlush();
    }
  }

  private onStatus(nodeId: string, payload: Buffer): void {
    const d = decode(statusSchema, payload);
    if (!d.ok)
      return this.complaints.warn(`st:${nodeId}:${d.reason}`, 'dropped status', {
        nodeId,
        reason: d.reason,
      });
    if (!this.deps.store.node(nodeId)) return;
    if (d.value.node && this.gate.refuses(nodeId, d.value.node)) {
      return void this.pending.status.delete(nodeId);
    }
    this.health.beat(nodeId, this.deps.clock.now(), switchHoldMs(d.value.node));
    if (d.value.node) {
      this.pending.info.set(nodeId, d.value.node);
      this.sender.noteDeltas(nodeId, d.value.node.assignmentDeltas === ASSIGNMENT_DELTAS);
    }
    const { images, blobServer } = d.value;
    if ((images || blobServer) && this.deps.imagePresence?.report(nodeId, images, blobServer)) {
      // A board that now holds an image is a peer for its site: refresh everyone's peer lists.
      this.noteAllNodes();
    }
    for (const report of d.value.tasks) this.pending.reports.set(report.taskId, { nodeId, report });
    if (this.deps.store.node(nodeId)?.status !== 'ready') this.pending.status.set(nodeId, 'ready');
    this.scheduleFlush();
  }

  private scheduleFlush(delayMs = FLUSH_MS): void {
    if (this.flushTimer || this.stopped) return;
    this.flushTimer = this.deps.clock.setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, delayMs);
  }

  /**
   * Writes what agents reported since the last flush, at most MAX_BATCH records a proposal,
   * one proposal at a time: the next batch is worked out from the records the last one wrote,
   * so a flood of statuses becomes a few bounded writes that do not conflict with each other.
   */
  private async flush(): Promise<void> {
    if (this.flushing) return; // the write under way schedules the next when it is done
    this.flushing = true;
    try {
      await this.writeBatch();
    } finally {
      this.flushing = false;
    }
    if (this.pending.size > 0) this.scheduleFlush(0);
  }

  private async writeBatch(): Promise<void> {
    const batch = this.pending.take(MAX_BATCH);
    const commands = batchCommands(batch, this.deps.store, this.deps.clock.now());
    if (commands.length === 0) return;
    try {
      await this.deps.propose({ commands });
    } catch (e) {
      if (this.stopped) return; // the next leader hears the agents' next reports
      const conflict = isWriteConflict(e);
      if (!conflict)
        this.complaints.error('write:reports', 'could not record agent reports; will retry', {
          error: String(e),
        });
      this.pending.putBack(batch);
      // A conflict means the records moved on: merge the reports into them straight away.
      this.scheduleFlush(conflict ? FLUSH_MS : RETRY_MS);
    }
  }

  private armHealth(): void {
    const every = Math.max(100, Math.floor(this.deps.heartbeatMs / 4));
    this.healthTimer = this.deps.clock.setTimeout(() => {
      if (this.stopped) return;
      void this.checkHealth().finally(() => this.armHealth());
    }, every);
  }

  private async checkHealth(): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const commands: Command[] = [];
    const downs: Record<string, unknown>[] = [];
    for (const n of store.nodes()) {
      if (n.status === 'down' || !takesTasks(n)) continue;
      if (this.links.heardByConnection(n)) this.health.beat(n.id, now);
      const v = this.health.check(n.id, now);
      if (v) {
        this.deps.usage?.forget(n.id);
        downs.push({ nodeId: n.id, name: n.name, reason: v.message });
        commands.push({
          type: 'node.put',
          node: { ...n, status: v.status, statusMessage: v.message, updatedAt: now },
        });
      }
    }
    if (commands.length === 0) return;
    try {
      await this.deps.propose({ commands });
    } catch (e) {
      // The next check (a quarter heartbeat later) finds the same nodes down and tries again.
      if (!isWriteConflict(e) && !this.stopped)
        this.complaints.error('write:health', 'could not record node health; will retry', {
          error: String(e),
        });
      return;
    }
    for (const d of downs) this.deps.logger.warn('node down', d);
  }

  private noteAllNodes(): void {
    for (const n of this.deps.store.nodes()) this.dirtyAssignments.add(n.id);
    this.noteChange(emptyChangeSet(this.deps.store.appliedIndex));
  }

  private noteChange(c: ChangeSet): void {
    for (const id of c.assignmentNodes) this.dirtyAssignments.add(id);
    for (const id of c.nodes) this.dirtyAssignments.add(id);
    // A service that now names another image: its nodes may have to download it (prefetch).
    for (const id of c.services) {
      for (const t of this.deps.store.tasksOfService(id))
        if (t.nodeId) this.dirtyAssignments.add(t.nodeId);
    }
    // A pushed or removed image changes the tasks of every node that runs it; a rollout or a
    // release changes which agent release a node is asked for.
    if (c.images.size + c.upgrades.size + c.releases.size > 0)
      for (const n of this.deps.store.nodes()) this.dirtyAssignments.add(n.id);
    if (this.dirtyAssignments.size === 0 || this.assignScheduled) return;
    this.assignScheduled = true;
    setImmediate(() => {
      this.assignScheduled = false;
      void this.publishAssignments();
    });
  }

  private async publishAssignments(): Promise<void> {
    const { store } = this.deps;
    const ids = [...this.dirtyAssignments];
    this.dirtyAssignments.clear();
    const pins: PinMemo = new Map();
    let pinsAt = store.appliedIndex;
    for (const [i, nodeId] of ids.entries()) {
      // Thousands of nodes: heartbeats are read in between, and a step-down stops the round.
      if (i > 0 && i % YIELD_EVERY === 0) await new Promise<void>((r) => setImmediate(r));
      if (this.stopped) return;
      // Sends yield: what was worked out holds only while the store has not moved on.
      if (store.appliedIndex !== pinsAt) pins.clear();
      pinsAt = store.appliedIndex;
      const prefetch = prefetchFor(store, this.deps.imagePresence, nodeId);
      const agentRelease = agentReleaseFor(store, nodeId);
      const adopted = store.node(nodeId)?.bundle?.id;
      const boxPub = store.node(nodeId)?.boxPub;
      const draft: AssignmentDraft = {
        version: store.appliedIndex,
        nodeId,
        head: {
          ...this.links.assignmentFields(nodeId),
          ...(this.deps.statsMs ? { statsMs: this.deps.statsMs, statsCompact: true } : {}),
          ...(prefetch.length > 0 ? { prefetch } : {}),
          ...(agentRelease ? { agentRelease } : {}),
          ...(adopted ? { adoptedBundle: adopted } : {}),
        },
        tasks: assignedTasks(store, this.deps.imagePresence, nodeId, pins),
      };
      // Sealed after the comparison: a fresh ephemeral key makes every sealed copy differ.
      await this.sender.send(draft, (t) =>
        withRegistryAuth(
          store,
          this.deps.dataKey,
          boxPub,
          withFiles(store, this.deps.dataKey, boxPub, t),
        ),
      );
    }
  }
}
