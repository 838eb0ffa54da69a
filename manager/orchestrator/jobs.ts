// Job services: each slot (replicated-job) or eligible node (global-job) runs one task of the job's iteration to completion.
import { decideRestart, nextHistory } from '../../shared/restart-policy.js';
import type { ServiceRecord, TaskRecord } from '../../shared/spec.js';
import {
  consecutiveRejects,
  isLive,
  newTask,
  newestFirst,
  shutdownTask,
  stillStopping,
} from './tasks.js';

/** What a job pass needs of the orchestrator: the time, and where its task writes go. */
export interface JobPass {
  now: number;
  put: (t: TaskRecord) => void;
  /** A rejected task's replacement may skip the restart delay (an untried node is left). */
  retryAtOnce: (slot: TaskRecord[]) => boolean;
}

/**
 * One pass over a job. A job's iteration is its spec version: a new version (a changed spec,
 * `update --force`) runs the job again, and tasks of an older iteration are stopped rather than
 * rolled. A slot or node with a complete task of this iteration is done for good: the record in
 * the store is what keeps a global job from running twice on a node, across leader changes.
 * Failed tasks are retried by the restart policy; at most `maxConcurrent` tasks of a replicated
 * job are live at once.
 *
 * `keys` are the slots ("1".."N") or eligible node ids, in the order they are started.
 */
export function reconcileJob(
  service: ServiceRecord,
  groups: ReadonlyMap<string, TaskRecord[]>,
  keys: readonly string[],
  pass: JobPass,
): void {
  const { specVersion } = service;
  const perNode = service.spec.mode === 'global-job';
  const max = service.spec.maxConcurrent ?? 0;
  const limit = !perNode && max > 0 ? max : Infinity;
  let live = 0;
  const waiting: { key: string; mine: TaskRecord[] }[] = [];
  for (const key of keys) {
    const group = groups.get(key) ?? [];
    for (const t of group)
      if (isLive(t) && t.specVersion !== specVersion)
        pass.put(shutdownTask(t, pass.now, 'job run again'));
    const mine = group.filter((t) => t.specVersion === specVersion).sort(newestFirst);
    if (mine.some((t) => t.status.state === 'complete')) continue;
    const running = mine.filter(isLive);
    if (running.length > 0) {
      live++;
      for (const t of running.slice(1)) pass.put(shutdownTask(t, pass.now, 'duplicate task'));
      continue;
    }
    if (group.some((t) => t.specVersion !== specVersion && stillStopping(t, pass.now))) continue;
    waiting.push({ key, mine });
  }
  for (const { key, mine } of waiting) {
    if (live >= limit) return;
    const slot = perNode ? 0 : Number(key);
    const nodeId = perNode ? key : null;
    const latest = mine[0];
    if (!latest || latest.desiredState === 'shutdown') {
      const restartHistory = latest?.restartHistory ?? [];
      pass.put(newTask(service, slot, nodeId, pass.now, { restartHistory }));
      live++;
      continue;
    }
    const policy = service.spec.task.restart;
    const ending = latest.status.state === 'rejected' ? 'rejected' : 'failed';
    const d = decideRestart(
      policy,
      ending,
      latest.restartHistory,
      pass.now,
      consecutiveRejects(mine),
    );
    // Out of attempts (or restart condition none): the slot stays failed, as Docker's jobs do.
    if (!d.restart) continue;
    pass.put(shutdownTask(latest, pass.now, `restarting: task ${ending}`));
    pass.put(
      newTask(service, slot, nodeId, pass.now, {
        notBefore:
          ending === 'rejected' && pass.retryAtOnce(mine) ? pass.now : pass.now + d.delayMs,
        restartHistory: nextHistory(policy, latest.restartHistory, pass.now),
      }),
    );
    live++;
  }
}

/** The slots or nodes of a job whose current iteration has a complete task. */
export function completedCount(service: ServiceRecord, tasks: readonly TaskRecord[]): number {
  const done = new Set<string>();
  for (const t of tasks)
    if (t.specVersion === service.specVersion && t.status.state === 'complete')
      done.add(t.slot > 0 ? String(t.slot) : `node:${t.nodeId ?? ''}`);
  return done.size;
}
