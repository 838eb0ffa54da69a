// The updater: replaces a service's outdated tasks by its update settings, on the leader only.
import type { TimerHandle } from '../../shared/clock.js';
import { isJobMode, type TaskRecord } from '../../shared/spec.js';
import { Controller, type ControllerDeps } from '../leader/controller.js';
import type { ChangeSet, Command } from '../store/commands.js';
import { planUpdate } from './plan.js';
import { prefetchHold } from './prefetch-gate.js';
import type { ImagePresenceView } from '../images/presence.js';

/** Every update's state is in the store, so a sweep this often only catches what no change wakes. */
const SWEEP_MS = 5_000;
/** How often an update waiting for downloads looks again. */
const PREFETCH_POLL_MS = 500;

export class Updater extends Controller {
  private wakeTimer: TimerHandle | undefined;
  private wakeDue = Infinity;

  constructor(
    deps: ControllerDeps,
    /** Which nodes hold which cluster images: an update waits for its image there (prefetch). */
    private readonly presence?: ImagePresenceView,
  ) {
    super(deps, SWEEP_MS);
  }

  override stop(): void {
    super.stop();
    this.clearWake();
  }

  protected interested(c: ChangeSet): boolean {
    return c.services.size > 0 || c.tasks.size > 0;
  }

  protected async reconcile(): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const commands: Command[] = [];
    const tasks: TaskRecord[] = [];
    let wakeAt = Infinity;
    for (const service of store.services()) {
      // A job is run again in full on a new spec, never rolled (the orchestrator does that).
      if (isJobMode(service.spec.mode)) continue;
      const hold = this.presence && prefetchHold(store, this.presence, service, now);
      if (hold) {
        if (service.updateStatus && service.updateStatus.message !== hold.message) {
          const updateStatus = { ...service.updateStatus, message: hold.message };
          commands.push({
            type: 'service.put',
            service: { ...service, updateStatus, updatedAt: now },
          });
        }
        // Downloads are not in the store, so nothing else wakes this pass when one completes.
        wakeAt = Math.min(wakeAt, now + PREFETCH_POLL_MS);
        continue;
      }
      const step = planUpdate(service, store.tasksOfService(service.id), now);
      if (step.service) commands.push({ type: 'service.put', service: step.service });
      tasks.push(...step.tasks);
      if (step.wakeAt !== null) wakeAt = Math.min(wakeAt, step.wakeAt);
    }
    this.wake(wakeAt);
    if (tasks.length > 0) commands.push({ type: 'tasks.put', tasks });
    if (commands.length > 0) await this.deps.propose({ commands });
  }

  /** A pass when a monitor period or a delay ends; one timer for the earliest. */
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
