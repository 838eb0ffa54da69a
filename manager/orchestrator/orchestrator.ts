// The orchestrator: keeps each service's slots (replicated) or nodes (global) filled with one live task.
import { decideRestart, nextHistory, type Ending } from '../../shared/restart-policy.js';
import {
  isJobMode,
  isPerNodeMode,
  isTerminal,
  type ServiceRecord,
  type TaskRecord,
} from '../../shared/spec.js';
import { Controller, type ControllerDeps } from '../leader/controller.js';
import type { ChangeSet } from '../store/commands.js';
import { eligibleNodes } from './eligible.js';
import { reconcileJob } from './jobs.js';
import {
  consecutiveRejects,
  isLive,
  newTask,
  newestFirst,
  prunable,
  retryAtOnce,
  shutdownTask,
  stillStopping,
} from './tasks.js';

interface Pass {
  now: number;
  put: Map<string, TaskRecord>;
  del: Set<string>;
}

export class Orchestrator extends Controller {
  constructor(deps: ControllerDeps) {
    super(deps, 5_000);
  }

  protected interested(c: ChangeSet): boolean {
    return c.services.size > 0 || c.nodes.size > 0 || c.tasks.size > 0;
  }

  protected async reconcile(): Promise<void> {
    const { store, clock } = this.deps;
    const pass: Pass = { now: clock.now(), put: new Map(), del: new Set() };
    for (const service of store.services()) this.reconcileService(service, pass);
    this.reapOrphans(pass);
    if (pass.put.size === 0 && pass.del.size === 0) return;
    await this.deps.propose({
      commands: [
        { type: 'tasks.put', tasks: [...pass.put.values()] },
        { type: 'tasks.delete', ids: [...pass.del] },
      ],
    });
  }

  private reconcileService(service: ServiceRecord, pass: Pass): void {
    const tasks = this.deps.store
      .tasksOfService(service.id)
      .map((t) => this.endOnBadNode(t, service, pass));
    const perNode = isPerNodeMode(service.spec.mode);
    const groups = new Map<string, TaskRecord[]>();
    for (const t of tasks) {
      const key = perNode ? (t.nodeId ?? '') : String(t.slot);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(t);
    }
    let eligible: string[] | undefined;
    // A global task belongs to its node: only a replicated slot can move on to an untried one.
    const atOnce = (group: TaskRecord[]): boolean =>
      !perNode &&
      retryAtOnce(
        service,
        tasks,
        group,
        (eligible ??= eligibleNodes(this.deps.store, service).map((n) => n.id)),
      );
    const keys = perNode
      ? eligibleNodes(this.deps.store, service).map((n) => n.id)
      : Array.from({ length: service.spec.replicas }, (_, i) => String(i + 1));
    if (isJobMode(service.spec.mode)) {
      reconcileJob(service, groups, keys, {
        now: pass.now,
        put: (t) => this.put(pass, t),
        retryAtOnce: atOnce,
      });
    } else {
      for (const key of keys) {
        const slot = perNode ? 0 : Number(key);
        this.fillSlot(service, groups.get(key) ?? [], slot, perNode ? key : null, pass, atOnce);
      }
    }
    const wanted = new Set(keys);
    for (const [key, group] of groups) {
      if (!wanted.has(key))
        this.endAll(group, pass, perNode ? 'node no longer eligible' : 'scaled down');
    }
    for (const group of groups.values()) for (const t of prunable(group)) pass.del.add(t.id);
  }

  /**
   * Keeps one live task of the current spec in a slot, applying the restart policy. Live tasks of
   * an older spec are the updater's to replace; a slot whose old task is still stopping (a
   * stop-first update) is refilled once it has stopped.
   */
  private fillSlot(
    service: ServiceRecord,
    group: TaskRecord[],
    slot: number,
    nodeId: string | null,
    pass: Pass,
    atOnce: (group: TaskRecord[]) => boolean,
  ): void {
    const live = group.filter(isLive).sort((a, b) => b.createdAt - a.createdAt);
    const current = live.find((t) => t.specVersion === service.specVersion);
    for (const t of live) {
      if (t !== current && t.specVersion === service.specVersion)
        this.put(pass, shutdownTask(t, pass.now, 'duplicate task'));
    }
    if (current) {
      // An ended task beside the slot's current one (a failed task of a version rolled back
      // from) is not wanted any more: nothing waits for it.
      for (const t of group)
        if (t.desiredState === 'running' && t !== current && isTerminal(t.status.state))
          this.put(pass, shutdownTask(t, pass.now, t.status.message));
      return;
    }
    if (live.length > 0) return;
    if (group.some((t) => t.specVersion !== service.specVersion && stillStopping(t, pass.now)))
      return;
    const latest = [...group].sort(newestFirst)[0];
    if (!latest || latest.desiredState === 'shutdown') {
      this.put(
        pass,
        newTask(service, slot, nodeId, pass.now, { restartHistory: latest?.restartHistory ?? [] }),
      );
      return;
    }
    const ending = endingOf(latest);
    const rejects = consecutiveRejects(group);
    const d = decideRestart(
      service.spec.task.restart,
      ending,
      latest.restartHistory,
      pass.now,
      rejects,
    );
    if (!d.restart) return;
    this.put(pass, shutdownTask(latest, pass.now, `restarting: task ${ending}`));
    this.put(
      pass,
      newTask(service, slot, nodeId, pass.now, {
        notBefore: ending === 'rejected' && atOnce(group) ? pass.now : pass.now + d.delayMs,
        restartHistory: nextHistory(service.spec.task.restart, latest.restartHistory, pass.now),
      }),
    );
  }

  /** A task on a node that is down, gone or drained is ended so its slot can be refilled. */
  private endOnBadNode(t: TaskRecord, service: ServiceRecord, pass: Pass): TaskRecord {
    if (!isLive(t) || !t.nodeId) return t;
    const node = this.deps.store.node(t.nodeId);
    let ended: TaskRecord | undefined;
    if (!node) ended = shutdownTask(t, pass.now, 'node removed', true);
    else if (node.status === 'down') ended = shutdownTask(t, pass.now, 'node down', true);
    else if (node.availability === 'drain') ended = shutdownTask(t, pass.now, 'node drained');
    if (!ended) return t;
    void service;
    this.put(pass, ended);
    return ended;
  }

  private endAll(group: TaskRecord[], pass: Pass, why: string): void {
    for (const t of group) if (isLive(t)) this.put(pass, shutdownTask(t, pass.now, why));
  }

  /**
   * Tasks whose service is gone are deleted once they stopped (or cannot say so any more);
   * their agents stop any that still run on the next assignment.
   */
  private reapOrphans(pass: Pass): void {
    for (const t of this.deps.store.tasks()) {
      if (!this.deps.store.service(t.serviceId) && !stillStopping(t, pass.now)) pass.del.add(t.id);
    }
  }

  private put(pass: Pass, t: TaskRecord): void {
    pass.put.set(t.id, t);
  }
}

function endingOf(t: TaskRecord): Ending {
  if (t.status.state === 'complete') return 'complete';
  if (t.status.state === 'rejected') return 'rejected';
  return 'failed';
}
