// The soak's continuous checks: each sample is weighed against the faults and actions so far, and broken promises are kept with their times.
import {
  affects,
  type ActionRecord,
  type BoardTruth,
  type FaultRecord,
  type InvariantName,
  type ManagerViews,
  type Observation,
  type ProbeTally,
  type Violation,
} from './model.js';

export interface CheckOptions {
  /** How long after a fault or action the cluster may take to be whole again. */
  boundMs: number;
}

/** A condition that may be false for a while; past the bound it becomes a violation. */
class Episode {
  private since: number | null = null;
  private open: Violation | null = null;

  constructor(
    private readonly invariant: InvariantName,
    private readonly out: Violation[],
  ) {}

  /** `bad` at time t; `anchor` is the latest time a cause for it could have started. */
  update(t: number, bad: boolean, anchor: number, boundMs: number, detail: () => string): void {
    if (!bad) {
      if (this.open) this.open.to = t;
      this.since = null;
      this.open = null;
      return;
    }
    this.since ??= t;
    const from = Math.max(this.since, anchor);
    if (!this.open && t - from >= boundMs) {
      this.open = { invariant: this.invariant, from: from + boundMs, detail: detail() };
      this.out.push(this.open);
    }
  }
}

export class Checks {
  readonly violations: Violation[] = [];
  private readonly episodes = new Map<string, Episode>();
  private readonly lastTask = new Map<
    string,
    { id: string; node: string | null; restarts: number }
  >();
  private readonly downSeen = new Map<string, number>();

  constructor(
    private readonly opts: CheckOptions,
    private readonly faults: readonly FaultRecord[],
    private readonly actions: readonly ActionRecord[],
  ) {}

  private episode(key: string, invariant: InvariantName): Episode {
    let e = this.episodes.get(key);
    if (!e) {
      e = new Episode(invariant, this.violations);
      this.episodes.set(key, e);
    }
    return e;
  }

  /** The end of the latest fault that began by t (any target), or of the latest action on `service`. */
  private anchor(t: number, service?: string, node?: string): number {
    let a = 0;
    for (const f of this.faults)
      if (
        f.start <= t &&
        f.error === undefined &&
        (node === undefined || affectsNodeOrAll(f, node))
      )
        a = Math.max(a, f.end);
    for (const x of this.actions)
      if (x.at <= t && (service === undefined || x.service === service)) a = Math.max(a, x.at);
    return a;
  }

  observe(o: Observation): void {
    if (!o.answered) return;
    const { boundMs } = this.opts;
    for (const s of o.services) {
      this.episode(`replicas:${s.name}`, 'replicas-converge').update(
        o.t,
        s.running !== s.desired,
        this.anchor(o.t),
        boundMs,
        () => `${s.name} had ${s.running} of ${s.desired} replicas running`,
      );
    }
    for (const task of o.tasks) {
      const stuck = task.desiredState === 'running' && task.state !== 'running';
      this.episode(`stuck:${task.id}`, 'no-stuck-task').update(
        o.t,
        stuck,
        this.anchor(o.t, task.service),
        boundMs,
        () => `${task.service}.${task.slot} (${task.id}) stayed ${task.state}, not running`,
      );
    }
    this.checkDown(o);
    this.checkRestarts(o);
  }

  /** A node down while nothing was done to it is a false alarm (a leader change is no excuse). */
  private checkDown(o: Observation): void {
    for (const n of o.nodes) {
      const down = n.status === 'down';
      if (down && !this.downSeen.has(n.id)) this.downSeen.set(n.id, o.t);
      if (!down) this.downSeen.delete(n.id);
      const excused = this.faults.some(
        (f) => affects(f, n.id) && f.start <= o.t && o.t <= f.end + this.opts.boundMs,
      );
      this.episode(`down:${n.id}`, 'no-false-down').update(
        o.t,
        down && !excused,
        0,
        0,
        () => `${n.name} was marked down with no fault on it`,
      );
    }
  }

  /**
   * A new task in a slot, or a restart in place, needs a cause: an action on its service, or a
   * fault on its node (a killed agent's node is marked down at once, and its tasks replaced, as
   * Swarm does).
   */
  private checkRestarts(o: Observation): void {
    for (const task of o.tasks) {
      if (task.desiredState !== 'running') continue;
      // A global service's tasks have no slot: each is its node's.
      const key =
        task.slot > 0 ? `${task.service}.${task.slot}` : `${task.service}@${task.node ?? '-'}`;
      const before = this.lastTask.get(key);
      this.lastTask.set(key, { id: task.id, node: task.node, restarts: task.restarts });
      if (!before) continue;
      const replaced = before.id !== task.id;
      const restarted = !replaced && task.restarts > before.restarts;
      if (!replaced && !restarted) continue;
      if (this.explained(o.t, task.service, before.node)) continue;
      this.violations.push({
        invariant: 'no-unexplained-restart',
        from: o.t,
        to: o.t,
        detail: replaced
          ? `${key} was replaced (${before.id} → ${task.id}) with no action on ${task.service} and no fault on its node`
          : `${key} (${task.id}) restarted in place (${task.restarts} restarts) with no cause`,
      });
    }
  }

  private explained(t: number, service: string, node: string | null): boolean {
    const { boundMs } = this.opts;
    if (this.actions.some((x) => x.service === service && x.at <= t && t - x.at <= boundMs * 2))
      return true;
    if (node === null) return true;
    return this.faults.some((f) => affects(f, node) && f.start <= t && t <= f.end + boundMs * 2);
  }

  /** What a board runs against what the store says it runs: a task the board forgot is stuck. */
  boardTruth(b: BoardTruth, o: Observation): void {
    const running = new Set(b.running);
    const missing = o.tasks.filter(
      (x) =>
        x.node === b.node &&
        x.desiredState === 'running' &&
        x.state === 'running' &&
        !running.has(x.id),
    );
    this.episode(`truth:${b.node}`, 'no-stuck-task').update(
      b.t,
      missing.length > 0,
      this.anchor(b.t, undefined, b.node),
      this.opts.boundMs,
      () =>
        `node ${b.node} does not run ${missing.map((x) => `${x.service}.${x.slot}`).join(', ')}, which the managers think it runs`,
    );
  }

  managers(v: ManagerViews): void {
    const answers = Object.values(v.views).filter((x): x is string => x !== null);
    const disagree = new Set(answers).size > 1;
    this.episode('managers', 'managers-agree').update(
      v.t,
      disagree,
      this.anchor(v.t),
      this.opts.boundMs,
      () =>
        `managers hold different services: ${Object.entries(v.views)
          .map(([id, x]) => `${id}=${x ?? '?'}`)
          .join(' | ')}`,
    );
  }

  probes(p: ProbeTally): void {
    this.episode(`ingress:${p.node}`, 'ingress-answers').update(
      p.t,
      p.failed > 0 && p.ok === 0,
      this.anchor(p.t),
      this.opts.boundMs,
      () => `the ingress on node ${p.node} did not answer`,
    );
  }
}

/** Manager faults touch every node's link; board faults only the board's. */
function affectsNodeOrAll(f: FaultRecord, node: string): boolean {
  return f.target === node || f.kind.endsWith('manager') || f.kind === 'kill-leader';
}
