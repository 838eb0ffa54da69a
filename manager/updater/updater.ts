// The updater: replaces a service's outdated tasks by its update settings, on the leader only.
import type { TimerHandle } from '../../shared/clock.js';
import { isJobMode, type TaskRecord } from '../../shared/spec.js';
import { Controller, type ControllerDeps } from '../leader/controller.js';
import type { ChangeSet, Command } from '../store/commands.js';
import { planUpdate } from './plan.js';

/** Every update's state is in the store, so a sweep this often only catches what no change wakes. */
const SWEEP_MS = 5_000;

export class Updater extends Controller {
  private wakeTimer: TimerHandle | undefined;
  private wakeDue = Infinity;

  constructor(deps: ControllerDeps) {
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
