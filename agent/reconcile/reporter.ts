// Tells the manager how this node is doing: batched task status reports (only when they change) and paced heartbeats.
import { ASSIGNMENT_DELTAS } from '../../shared/assignment-delta.js';
import type { UpgradeReport } from '../../shared/ota/upgrade-protocol.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { encode, topics, type StatusMessage } from '../../shared/protocol.js';
import type { Runtime, RuntimeInfo } from '../runtime/types.js';
import { toReport, type LocalTask } from './local-state.js';
import type { ImageReport } from '../../shared/images/cluster-image.js';
import type { BundleReport } from '../../shared/bundle/report.js';
import { agentVersion } from '../../shared/agent-version.js';
import { PROTOCOL_VERSION } from '../../shared/protocol-version.js';
import type { UsageSummary } from '../../shared/usage.js';
import {
  agentKeepaliveS,
  statusRefreshMs,
  type AssignmentLink,
  type LinkProfile,
} from '../../shared/link-profile.js';
import { compactUsage } from '../../shared/usage-compact.js';

const DEFAULT_HEARTBEAT_MS = 2_000;
/** Task changes within this time go out in one status message. */
const STATUS_BATCH_MS = 50;
/** A stopped task is still reported this long after it left the agent's books. */
const REMOVED_KEPT_MS = 60_000;
/** At most this many tasks in one status message. */
const MAX_REPORTED_TASKS = 1000;
/** A usage sample that takes longer is given up: the heartbeat goes out without it. */
const SAMPLE_TIMEOUT_MS = 2_000;

export interface ReporterDeps {
  nodeId: string;
  clock: Clock;
  /** In [0, 1): spreads the heartbeats of a rack of boards. */
  random(): number;
  /** Hands a message to the connected manager; false when there is none. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): boolean;
  connected(): boolean;
  /** The runtime's answer, once the agent has it: nothing is reported before. */
  info(): RuntimeInfo | undefined;
  /** The agent's current record of each task. */
  tasks(): ReadonlyMap<string, LocalTask>;
  /** The version of the assignment running, and the heartbeat and usage periods it asks for. */
  assignment(): {
    version: number;
    heartbeatMs: number;
    statsMs?: number | undefined;
    link?: AssignmentLink | undefined;
    statsCompact?: boolean | undefined;
  } | null;
  diskFull(): boolean;
  /** Cluster images held or on their way (sent only when there are any). */
  images?(): ImageReport[];
  /** Where the agent's own upgrade stands (sent only when there is something to say). */
  upgrade?(): UpgradeReport | undefined;
  /** Where this node serves blobs to neighbours. */
  blobServer?(): string | undefined;
  /** The offline bundle applied here that no manager adopted yet. */
  bundle?(): BundleReport | undefined;
  /** A usage summary, or undefined while it has only a baseline (see agent/observe/sampler.ts). */
  usage?(): Promise<UsageSummary | undefined>;
  /** True once the agent is shutting down: no heartbeat goes out any more. */
  closing(): boolean;
  runtimeName: Runtime['name'];
  address: string;
  /** The link profile the agent was started with, announced in each status. */
  profile?: LinkProfile;
}

export class StatusReporter {
  /** Tasks stopped and gone from the agent's books, still reported for a while. */
  private readonly removed = new Map<string, LocalTask>();
  private statusTimer: TimerHandle | undefined;
  private hbTimer: TimerHandle | undefined;
  /** The wait the scheduled heartbeat was timed with. */
  private timedWith = 0;
  private hbSeq = 0;
  private closed = false;
  /** When the last usage summary went out (clock time). */
  private usageSentAt: number | undefined;
  private sampling = false;
  /** The last status sent on this connection (without its timestamp), and when. */
  private lastStatus: { body: string; at: number } | undefined;

  constructor(private readonly deps: ReporterDeps) {}

  /** A task the agent stopped and forgot: reported as such, soon. */
  removedTask(taskId: string, last: LocalTask): void {
    this.removed.set(taskId, last);
    this.scheduleStatus();
  }

  /** Sends a status report shortly, with whatever else changes meanwhile. */
  scheduleStatus(): void {
    if (this.statusTimer || this.closed) return;
    this.statusTimer = this.deps.clock.setTimeout(() => {
      this.statusTimer = undefined;
      this.sendStatus();
    }, STATUS_BATCH_MS);
  }

  /**
   * Sends the full status when it differs from the last one sent, or when the last is older
   * than the profile's refresh period; `fresh` (a new connection) sends it regardless. Idle
   * boards on metered links pay for every byte (issue 21).
   */
  sendStatus(fresh = false): void {
    const { deps } = this;
    const info = deps.info();
    if (!deps.connected() || !info) return;
    const now = deps.clock.now();
    for (const [id, r] of this.removed) if (now - r.at > REMOVED_KEPT_MS) this.removed.delete(id);
    const local = deps.tasks();
    const tasks = [...local].map(([id, l]) => toReport(id, l));
    for (const [id, r] of this.removed) if (!local.has(id)) tasks.push(toReport(id, r));
    const msg: StatusMessage = {
      v: 1,
      ts: now,
      assignmentVersion: deps.assignment()?.version ?? 0,
      tasks: tasks.slice(0, MAX_REPORTED_TASKS),
      node: {
        resources: { cpus: info.cpus, memoryBytes: info.memoryBytes },
        platform: { os: info.os, arch: info.arch },
        runtime: deps.runtimeName,
        address: deps.address,
        agentVersion: agentVersion(),
        protocolVersion: PROTOCOL_VERSION,
        assignmentDeltas: ASSIGNMENT_DELTAS,
        engineVersion: info.version,
        diskFull: deps.diskFull(),
        allowDevices: info.allowDevices === true,
        nodeVersion: process.versions.node,
      },
    };
    const upgrade = deps.upgrade?.();
    if (upgrade && msg.node) msg.node.upgrade = upgrade;
    const images = deps.images?.() ?? [];
    if (images.length > 0) msg.images = images.slice(0, 256);
    const blobServer = deps.blobServer?.();
    if (blobServer) msg.blobServer = blobServer;
    const bundle = deps.bundle?.();
    if (bundle) msg.bundle = bundle;
    if (deps.profile && msg.node) msg.node.profile = deps.profile;
    const body = JSON.stringify({ ...msg, ts: 0 });
    const last = this.lastStatus;
    const refreshMs = statusRefreshMs(this.profileInForce());
    if (!fresh && last?.body === body && now - last.at < refreshMs) return;
    if (deps.publish(topics.status(deps.nodeId), encode(msg), 1))
      this.lastStatus = { body, at: now };
  }

  /**
   * The MQTT keepalive to connect with: the assignment's, else the agent's own profile's. A
   * metered node's keepalive is its heartbeat; one the manager changes takes a reconnect.
   */
  keepaliveS(): number {
    return agentKeepaliveS(this.deps.assignment(), this.deps.profile);
  }

  /** The manager's word (in the assignment) first, else the agent's own. */
  private profileInForce(): LinkProfile {
    return this.deps.assignment()?.link?.profile ?? this.deps.profile ?? 'default';
  }

  /** Connected: a heartbeat now, then one per period the manager asks for. */
  startHeartbeats(): void {
    this.scheduleHeartbeat(0);
  }

  stopHeartbeats(): void {
    if (this.hbTimer) this.deps.clock.clearTimeout(this.hbTimer);
    this.hbTimer = undefined;
  }

  close(): void {
    this.closed = true;
    this.stopHeartbeats();
    if (this.statusTimer) this.deps.clock.clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
  }

  /**
   * An assignment arrived: a heartbeat period shorter than the one the next beat was timed with
   * (the default before the first assignment) takes effect now, or the manager would find the
   * node silent for longer than it allows.
   */
  periodMayHaveChanged(): void {
    const period = this.deps.assignment()?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (this.hbTimer && period < this.timedWith) this.scheduleHeartbeat(0);
  }

  private scheduleHeartbeat(delay: number): void {
    const { deps } = this;
    this.stopHeartbeats();
    this.timedWith = delay;
    this.hbTimer = deps.clock.setTimeout(() => {
      if (!this.mayBeat()) return;
      // A metered node sends no heartbeat: its MQTT keepalive is its sign of life.
      const quiet = deps.assignment()?.link?.profile === 'metered';
      if (!quiet && this.usageDue()) void this.beatWithUsage();
      else if (!quiet) this.beat(undefined);
      const period = deps.assignment()?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
      // Jitter spreads a rack's heartbeats so they do not arrive in bursts.
      this.scheduleHeartbeat(period * (0.75 + deps.random() * 0.25));
    }, delay);
  }

  private mayBeat(): boolean {
    return this.deps.connected() && !this.closed && !this.deps.closing();
  }

  private beat(usage: UsageSummary | undefined): void {
    const { deps } = this;
    // The compact form only to a manager that said it reads it; an older one would drop it.
    const compact = deps.assignment()?.statsCompact === true;
    const summary = usage ? (compact ? { u: compactUsage(usage) } : { usage }) : {};
    const hb = { v: 1, seq: this.hbSeq++, ts: deps.clock.now(), ...summary };
    deps.publish(topics.heartbeat(deps.nodeId), encode(hb), 0);
  }

  /**
   * Usage goes out only when the manager asks (statsMs > 0), at most once per statsMs: boards
   * on metered links pay for every byte, and an idle heartbeat stays as small as it was.
   */
  private usageDue(): boolean {
    const statsMs = this.deps.assignment()?.statsMs ?? 0;
    if (statsMs <= 0 || !this.deps.usage || this.sampling) return false;
    const last = this.usageSentAt;
    return last === undefined || this.deps.clock.now() - last >= statsMs;
  }

  /** This beat waits for a sample, bounded in time; without one it goes out plain. */
  private async beatWithUsage(): Promise<void> {
    const { deps } = this;
    this.sampling = true;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = deps.clock.setTimeout(() => resolve(undefined), SAMPLE_TIMEOUT_MS);
    });
    const sample = (deps.usage?.() ?? Promise.resolve(undefined)).catch(() => undefined);
    const usage = await Promise.race([sample, timeout]);
    if (timer) deps.clock.clearTimeout(timer);
    this.sampling = false;
    if (!this.mayBeat()) return;
    if (usage) this.usageSentAt = deps.clock.now();
    this.beat(usage);
  }
}
