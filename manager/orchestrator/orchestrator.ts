// The orchestrator: keeps each service's slots (replicated) or nodes (global) filled with one live task.
import { decideRestart, nextHistory, type Ending } from '../../shared/restart-policy.js';
import {
  isTerminal,
  takesTasks,
  type NodeRecord,
  type ServiceRecord,
  type TaskRecord,
} from '../../shared/spec.js';
import { Controller, type ControllerDeps } from '../leader/controller.js';
import type { ChangeSet } from '../store/commands.js';
import { availabilityFilter, constraintFilter } from '../scheduler/filters/basic.js';
import { isLive, newTask, prunable, shutdownTask, stillStopping } from './tasks.js';

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
    const groups = new Map<string, TaskRecord[]>();
    for (const t of tasks) {
      const key = service.spec.mode === 'global' ? (t.nodeId ?? '') : String(t.slot);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(t);
    }
    if (service.spec.mode === 'replicated') {
      for (let slot = 1; slot <= service.spec.replicas; slot++) {
        this.fillSlot(service, groups.get(String(slot)) ?? [], slot, null, pass);
      }
      for (const [key, group] of groups) {
        if (Number(key) > service.spec.replicas) this.endAll(group, pass, 'scaled down');
      }
    } else {
      const eligible = new Set(this.eligibleNodes(service).map((n) => n.id));
      for (const nodeId of eligible)
        this.fillSlot(service, groups.get(nodeId) ?? [], 0, nodeId, pass);
      for (const [nodeId, group] of groups) {
        if (!eligible.has(nodeId)) this.endAll(group, pass, 'node no longer eligible');
      }
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
    const latest = [...group].sort((a, b) => b.createdAt - a.createdAt)[0];
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
        notBefore: pass.now + d.delayMs,
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

  private eligibleNodes(service: ServiceRecord): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const node of this.deps.store.nodes()) {
      if (node.status === 'down' || !takesTasks(node)) continue;
      const ctx = { node, service, task: probeTask(service), load: { tasks: [] } };
      if (availabilityFilter.check(ctx) === 'availability drain') continue;
      if (constraintFilter.check(ctx)) continue;
      out.push(node);
    }
    return out;
  }

  private endAll(group: TaskRecord[], pass: Pass, why: string): void {
    for (const t of group) if (isLive(t)) this.put(pass, shutdownTask(t, pass.now, why));
  }

  /** Tasks whose service is gone are deleted; their agents stop them on the next assignment. */
  private reapOrphans(pass: Pass): void {
    for (const t of this.deps.store.tasks()) {
      if (!this.deps.store.service(t.serviceId)) pass.del.add(t.id);
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

function consecutiveRejects(group: TaskRecord[]): number {
  let n = 0;
  for (const t of [...group].sort((a, b) => b.createdAt - a.createdAt)) {
    if (t.status.state !== 'rejected') break;
    n++;
  }
  return n;
}

function probeTask(service: ServiceRecord): TaskRecord {
  return newTask(service, 0, null, 0);
}
