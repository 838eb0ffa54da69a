// The agent upgrade wave as a pure function: a rollout and the nodes' records in, the rollout's next state out.
import { compareVersions } from '../../shared/ota/release-record.js';
import type { RolloutNode, RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { NodeRecord } from '../../shared/spec.js';
import { startRollback } from './rollback.js';

/** What a pass reads besides the rollout: the nodes, the stored releases, the time, the leader. */
export interface WaveInput {
  nodes: ReadonlyMap<string, NodeRecord>;
  /** nodeMin of every stored release, by version. */
  releases: ReadonlyMap<string, { nodeMin: string }>;
  now: number;
  /** The leader's node id: among managers its own board goes last. */
  leaderId?: string;
  /** The Raft group as the leader sees it; absent: managers are judged by their node status only. */
  raft?: RaftHealth;
}

/** What the wave needs of the Raft group: its voters, and which are in touch and caught up. */
export interface RaftHealth {
  voters: readonly string[];
  /** A voter the leader is in touch with, whose log has caught up with the leader's. */
  healthy(nodeId: string): boolean;
}

export interface WaveStep {
  /** The rollout to write, when it changed. */
  rollout?: RolloutRecord;
  /** When a pass is next due even if nothing changes (a monitor period, delay or deadline). */
  wakeAt: number | null;
}

const INFLIGHT: ReadonlySet<RolloutNode['state']> = new Set(['upgrading', 'monitoring']);
const isInflight = (n: RolloutNode): boolean => INFLIGHT.has(n.state);

/**
 * The next step of a rollout. The phases, in order: watch the nodes in flight (done once they
 * report the goal and stay ready for the monitor period; failed on the agent's word or past the
 * deadline), act on too many failures, hold at the canaries, start the next nodes (workers by
 * parallelism, then managers one at a time while every other manager is ready), finish.
 */
export function planWave(rollout: RolloutRecord, input: WaveInput): WaveStep {
  if (rollout.state !== 'updating' && rollout.state !== 'rolling back') return { wakeAt: null };
  const r: RolloutRecord = { ...rollout, nodes: rollout.nodes.map((n) => ({ ...n })) };
  const wake = new Wake();
  for (const n of r.nodes) if (isInflight(n)) watchNode(r, n, input, wake);
  const stopped = onFailures(r, input);
  if (!stopped && !canaryHold(r)) startNodes(r, input, wake);
  if (!stopped) finishIfDone(r, input.now);
  const changed = JSON.stringify(r) !== JSON.stringify(rollout);
  return {
    ...(changed ? { rollout: { ...r, updatedAt: input.now } } : {}),
    wakeAt: r.state === 'updating' || r.state === 'rolling back' ? wake.at : null,
  };
}

/** The version a node moves to in this phase: the release, or back to what it ran. */
export const goalOf = (r: RolloutRecord, n: RolloutNode): string =>
  r.kind === 'upgrade' ? r.release : n.from;

/** The earliest time a pass is due. */
class Wake {
  at: number | null = null;
  add(t: number): void {
    this.at = this.at === null ? t : Math.min(this.at, t);
  }
}

/** One node in flight: moves it to monitoring, done or failed by what its record says. */
function watchNode(r: RolloutRecord, n: RolloutNode, input: WaveInput, wake: Wake): void {
  const { now } = input;
  const rec = input.nodes.get(n.nodeId);
  if (!rec) {
    // Removed from the fleet: nothing to upgrade any more, and no failure of the release.
    n.state = 'skipped';
    n.reason = 'left the fleet during the upgrade';
    n.settledAt = now;
    delete n.target;
    return;
  }
  const goal = goalOf(r, n);
  const u = rec.agentUpgrade;
  if (u?.state === 'failed' && u.version === goal && u.at !== n.staleFailureAt)
    return void fail(r, n, now, `its agent fell back: ${u.reason ?? 'no reason given'}`);
  const { settings } = r;
  const deadline = (n.startedAt ?? now) + settings.downloadMs + settings.monitorMs;
  if (rec.agentVersion === goal && rec.status === 'ready' && raftBack(n, input.raft)) {
    n.readySince ??= now;
    n.state = 'monitoring';
    if (now - n.readySince >= settings.monitorMs) {
      n.state = 'done';
      n.settledAt = now;
      return;
    }
    return wake.add(n.readySince + settings.monitorMs);
  }
  const wasMonitoring = n.readySince !== undefined;
  delete n.readySince;
  n.state = 'upgrading';
  if (now >= deadline) {
    const why = wasMonitoring
      ? `went ${rec.status} within the monitor period`
      : `did not report ${goal} within ${minutes(deadline - (n.startedAt ?? now))} ` +
        `(reports ${rec.agentVersion || 'no version'}, ${rec.status})`;
    return void fail(r, n, now, why);
  }
  wake.add(deadline);
}

/**
 * Marks a node failed and counts it. Its target goes back to what it ran, so the assignment stops
 * asking (an agent that fell back runs that already); in a rollback it is asked for nothing more.
 */
export function fail(r: RolloutRecord, n: RolloutNode, now: number, reason: string): void {
  n.state = 'failed';
  n.reason = reason;
  n.settledAt = now;
  delete n.readySince;
  if (r.kind === 'upgrade' && n.from) n.target = n.from;
  else delete n.target;
  r.failures += 1;
  r.message = `node ${n.name} failed: ${reason}`;
}

/** Too many failures: pause, roll back or go on by the failure action; true when it stopped. */
function onFailures(r: RolloutRecord, input: WaveInput): boolean {
  const counted = r.nodes.filter((n) => n.state !== 'skipped').length;
  const total = Math.max(1, counted);
  if (r.failures === 0 || r.failures / total <= r.settings.maxFailureRatio) return false;
  const action = r.kind === 'rollback' ? 'pause' : r.settings.failureAction;
  if (action === 'continue') return false;
  const last = [...r.nodes]
    .filter((n) => n.state === 'failed')
    .sort((a, b) => (b.settledAt ?? 0) - (a.settledAt ?? 0))[0];
  const why = `${last ? `node ${last.name} failed: ${last.reason ?? ''}` : 'nodes failed'} (${r.failures} of ${total} failed)`;
  if (action === 'rollback') {
    const refused = startRollback(r, input.releases, input.now, `upgrade failed: ${why}`);
    if (refused === null) return true;
    r.state = 'paused';
    r.message = `upgrade paused: ${why}; cannot roll back: ${refused}`;
    return true;
  }
  r.state = r.kind === 'upgrade' ? 'paused' : 'rollback paused';
  r.message = `${r.kind} paused: ${why}`;
  return true;
}

/** Holds once the canaries are through and healthy, until --resume; true while it holds. */
function canaryHold(r: RolloutRecord): boolean {
  const canaries = Math.min(r.settings.canary, r.nodes.length);
  if (r.kind !== 'upgrade' || r.promoted || canaries === 0) return false;
  const touched = r.nodes.filter((n) => n.state !== 'pending' && n.state !== 'skipped');
  if (touched.length < canaries) return false;
  if (touched.some(isInflight)) return true;
  r.state = 'paused';
  r.message =
    `${touched.length} canary node(s) upgraded to ${r.release}: run "fleet node upgrade --resume" ` +
    `to go on, or "fleet node upgrade --rollback"`;
  return true;
}

/** Starts the next nodes the parallelism, the delay, the canaries and the managers allow. */
function startNodes(r: RolloutRecord, input: WaveInput, wake: Wake): void {
  const { now } = input;
  const { settings } = r;
  const lastSettled = Math.max(-Infinity, ...r.nodes.map((n) => n.settledAt ?? -Infinity));
  const delayUntil = settings.delayMs > 0 ? lastSettled + settings.delayMs : -Infinity;
  const pending = r.nodes.filter((n) => n.state === 'pending');
  if (pending.length === 0) return;
  if (now < delayUntil) return wake.add(delayUntil);
  const inflight = r.nodes.filter(isInflight);
  let capacity = Math.max(0, Math.max(1, settings.parallelism) - inflight.length);
  if (r.kind === 'upgrade' && !r.promoted && settings.canary > 0) {
    const touched = r.nodes.filter((n) => n.state !== 'pending' && n.state !== 'skipped').length;
    capacity = Math.min(capacity, settings.canary - touched);
  }
  for (const n of pending.filter((p) => !p.manager)) {
    if (capacity <= 0) return;
    const started = startNode(r, n, input);
    if (started === 'failed') return; // a node that cannot run the release: count it first
    if (started === 'started') capacity--;
  }
  // Managers last, one at a time, and only while every other manager is ready: never lose quorum.
  if (r.nodes.some((n) => !n.manager && (n.state === 'pending' || isInflight(n)))) return;
  if (inflight.some((n) => n.manager) || capacity <= 0) return;
  const managers = r.nodes.filter((n) => n.manager);
  const othersReady = (n: RolloutNode): boolean =>
    managers.every((m) => m === n || input.nodes.get(m.nodeId)?.status === 'ready');
  const next = pending
    .filter((n) => n.manager)
    .sort((a, b) => Number(a.nodeId === input.leaderId) - Number(b.nodeId === input.leaderId))[0];
  if (!next || !othersReady(next)) return;
  const risk = quorumRisk(next, input.raft);
  if (risk) {
    r.message = `manager ${next.name} waits: ${risk}`;
    return;
  }
  startNode(r, next, input);
}

/** A manager counts as back only once it votes again and has caught up (when Raft is known). */
function raftBack(n: RolloutNode, raft: RaftHealth | undefined): boolean {
  return !n.manager || !raft || !raft.voters.includes(n.nodeId) || raft.healthy(n.nodeId);
}

/** Why stopping this manager now would lose the Raft quorum, or undefined when it would not. */
function quorumRisk(n: RolloutNode, raft: RaftHealth | undefined): string | undefined {
  if (!raft || !raft.voters.includes(n.nodeId)) return undefined;
  const others = raft.voters.filter((v) => v !== n.nodeId);
  const healthy = others.filter((v) => raft.healthy(v)).length;
  const quorum = Math.floor(raft.voters.length / 2) + 1;
  if (healthy >= quorum) return undefined;
  return (
    `only ${healthy} of the other ${others.length} managers are in touch and caught up; ` +
    `${quorum} of ${raft.voters.length} must stay up for the Raft quorum`
  );
}

/** Asks one node for its goal; 'failed' when it cannot run that release, 'skipped' when gone. */
function startNode(
  r: RolloutRecord,
  n: RolloutNode,
  input: WaveInput,
): 'started' | 'failed' | 'skipped' {
  const { now } = input;
  const goal = goalOf(r, n);
  const rec = input.nodes.get(n.nodeId);
  const nodeMin = input.releases.get(goal)?.nodeMin;
  if (!rec) {
    n.state = 'skipped';
    n.reason = 'left the fleet';
    return 'skipped';
  }
  if (!nodeMin) {
    fail(r, n, now, `release ${goal} is no longer stored`);
    return 'failed';
  }
  if (rec.nodeVersion && compareVersions(rec.nodeVersion, nodeMin) < 0) {
    const has = rec.nodeVersion;
    fail(r, n, now, `release ${goal} needs Node.js ${nodeMin} or later, the node has ${has}`);
    return 'failed';
  }
  n.state = 'upgrading';
  n.target = goal;
  n.startedAt = now;
  delete n.readySince;
  delete n.reason;
  delete n.settledAt;
  if (rec.agentUpgrade?.state === 'failed') n.staleFailureAt = rec.agentUpgrade.at;
  else delete n.staleFailureAt;
  return 'started';
}

/** Marks the rollout completed (or rolled back) when no node is pending or in flight. */
function finishIfDone(r: RolloutRecord, now: number): void {
  if (r.nodes.some((n) => n.state === 'pending' || isInflight(n))) return;
  const failed = r.nodes.filter((n) => n.state === 'failed').length;
  const done = r.nodes.filter((n) => n.state === 'done').length;
  r.completedAt = now;
  if (r.kind === 'rollback') {
    r.state = 'rolled back';
    r.message = r.message.replace(/^rolling back/, 'rolled back') || 'rolled back';
    return;
  }
  r.state = 'completed';
  r.message =
    failed > 0
      ? `upgrade to ${r.release} completed with ${failed} failed node(s): ${done} upgraded`
      : `upgrade to ${r.release} completed: ${done} node(s) upgraded`;
}

function minutes(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}
