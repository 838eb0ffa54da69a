// The upgrader: moves agent upgrade rollouts on by their settings, on the leader only.
import type { TimerHandle } from '../../shared/clock.js';
import type { ReleaseRecord } from '../../shared/ota/release-record.js';
import type { NodeRecord } from '../../shared/spec.js';
import { Controller, type ControllerDeps } from '../leader/controller.js';
import type { ChangeSet, Command } from '../store/commands.js';
import { planWave, type RaftHealth } from './plan.js';

/** Every rollout's state is in the store, so a sweep this often only catches what no change wakes. */
const SWEEP_MS = 5_000;

export class Upgrader extends Controller {
  private wakeTimer: TimerHandle | undefined;
  private wakeDue = Infinity;

  constructor(
    deps: ControllerDeps,
    /** This manager's node id: its own board goes last among the managers. */
    private readonly selfId: string,
    /** The Raft group now (absent in tests of the wave without managers). */
    private readonly raft?: () => RaftHealth,
  ) {
    super(deps, SWEEP_MS);
  }

  override stop(): void {
    super.stop();
    this.clearWake();
  }

  protected interested(c: ChangeSet): boolean {
    return c.upgrades.size > 0 || c.releases.size > 0 || (c.nodes.size > 0 && this.anyMoving());
  }

  protected async reconcile(): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const nodes = new Map<string, NodeRecord>([...store.nodes()].map((n) => [n.id, n]));
    const releases = new Map(
      [...store.releases()].map((r: ReleaseRecord) => [r.manifest.version, r.manifest]),
    );
    const commands: Command[] = [];
    let wakeAt = Infinity;
    for (const rollout of store.upgrades()) {
      const raft = this.raft?.();
      const step = planWave(rollout, {
        nodes,
        releases,
        now,
        leaderId: this.selfId,
        ...(raft ? { raft } : {}),
      });
      if (step.rollout) commands.push({ type: 'upgrade.put', upgrade: step.rollout });
      if (step.wakeAt !== null) wakeAt = Math.min(wakeAt, step.wakeAt);
    }
    this.wake(wakeAt);
    if (commands.length > 0) await this.deps.propose({ commands });
  }

  private anyMoving(): boolean {
    for (const r of this.deps.store.upgrades())
      if (r.state === 'updating' || r.state === 'rolling back') return true;
    return false;
  }

  /** A pass when a monitor period, a delay or a deadline ends; one timer for the earliest. */
  private wake(at: number): void {
    if (at === Infinity || at >= this.wakeDue) return;
    this.clearWake();
    this.wakeDue = at;
    const ms = Math.max(0, at - this.deps.clock.now()) + 5;
    this.wakeTimer = this.deps.clock.setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeDue = Infinity;
      this.kick();
    }, ms);
  }

  private clearWake(): void {
    if (this.wakeTimer) this.deps.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.wakeDue = Infinity;
  }
}
