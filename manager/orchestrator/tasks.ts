// Building and changing task records: the only places the orchestrator makes or ends tasks.
import { randomId } from '../../shared/identity.js';
import type { Command } from '../store/commands.js';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  isTerminal,
  type ServiceRecord,
  type TaskRecord,
} from '../../shared/spec.js';

export const TASK_HISTORY_LIMIT = 5;

export function newTask(
  service: ServiceRecord,
  slot: number,
  nodeId: string | null,
  now: number,
  opts: { notBefore?: number; restartHistory?: number[] } = {},
): TaskRecord {
  return {
    id: randomId(),
    serviceId: service.id,
    serviceName: service.spec.name,
    slot,
    nodeId,
    desiredState: 'running',
    specVersion: service.specVersion,
    template: service.spec.task,
    status: {
      state: 'new',
      message: 'created',
      error: null,
      exitCode: null,
      hostPorts: [],
      runtimeId: null,
      restarts: 0,
      at: now,
    },
    notBefore: opts.notBefore ?? 0,
    restartHistory: opts.restartHistory ?? [],
    createdAt: now,
    updatedAt: now,
  };
}

/** Asks a task to stop; when its node is gone the task is marked orphaned at once. */
export function shutdownTask(
  t: TaskRecord,
  now: number,
  message: string,
  orphan = false,
): TaskRecord {
  const ended = isTerminal(t.status.state);
  return {
    ...t,
    desiredState: 'shutdown',
    status:
      orphan && !ended
        ? { ...t.status, state: 'orphaned', message, at: now }
        : ended
          ? t.status
          : { ...t.status, message },
    updatedAt: now,
  };
}

export const isLive = (t: TaskRecord): boolean =>
  t.desiredState === 'running' && !isTerminal(t.status.state);

/** Beyond its drain and grace periods, a stopping task that never reports is taken as stopped. */
const STOP_REPORT_SLACK_MS = 15_000;

/**
 * A task told to stop that may still be running: not yet reported stopped, placed on a node, past
 * the states in which nothing has started, and within its drain and grace periods.
 */
export function stillStopping(t: TaskRecord, now: number): boolean {
  if (t.desiredState !== 'shutdown' || isTerminal(t.status.state) || !t.nodeId) return false;
  if (t.status.state === 'new' || t.status.state === 'pending' || t.status.state === 'assigned')
    return false;
  const patience =
    (t.template.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS) +
    t.template.stopGracePeriodMs +
    STOP_REPORT_SLACK_MS;
  return now - t.updatedAt < patience;
}

/**
 * The commands that end a removed service's tasks: those that may be running are told to stop
 * (the orchestrator deletes them once stopped, so `stack rm` can wait for the containers to
 * go), the others are deleted at once.
 */
export function removalOf(tasks: readonly TaskRecord[], now: number): Command[] {
  const stop: TaskRecord[] = [];
  const ids: string[] = [];
  for (const t of tasks) {
    const told = shutdownTask(t, now, 'service removed');
    if (t.nodeId && !isTerminal(t.status.state) && stillStopping(told, now)) stop.push(told);
    else ids.push(t.id);
  }
  const out: Command[] = [];
  if (stop.length > 0) out.push({ type: 'tasks.put', tasks: stop });
  if (ids.length > 0) out.push({ type: 'tasks.delete', ids });
  return out;
}

/** Tasks beyond the history limit in a slot, oldest first, that may be deleted. */
export function prunable(slotTasks: TaskRecord[]): TaskRecord[] {
  const ended = slotTasks
    .filter((t) => !isLive(t) && (t.desiredState === 'shutdown' || isTerminal(t.status.state)))
    .sort((a, b) => b.createdAt - a.createdAt);
  return ended.slice(TASK_HISTORY_LIMIT);
}

/** How many of a slot's latest tasks in a row were rejected (backs off a task that cannot start). */
export function consecutiveRejects(group: readonly TaskRecord[]): number {
  let n = 0;
  for (const t of [...group].sort((a, b) => b.createdAt - a.createdAt)) {
    if (t.status.state !== 'rejected') break;
    n++;
  }
  return n;
}

/**
 * Whether a rejected task's replacement may start without the restart delay: some eligible node
 * has not refused this spec yet, and the slot has not yet been refused as many times as there
 * are eligible nodes. A refusal on one board says nothing of the next (the scheduler sends the
 * replacement elsewhere), and the delay is there for programs that crash; so every board is
 * tried within seconds, and the backoff applies once they all have refused.
 */
export function retryAtOnce(
  service: ServiceRecord,
  tasks: readonly TaskRecord[],
  slot: readonly TaskRecord[],
  eligible: readonly string[],
): boolean {
  if (consecutiveRejects(slot) >= eligible.length) return false;
  const refused = new Set(
    tasks
      .filter((t) => t.specVersion === service.specVersion && t.status.state === 'rejected')
      .map((t) => t.nodeId),
  );
  return eligible.some((n) => !refused.has(n));
}

/**
 * Newest first; of tasks made in the same instant, the one still wanted is the newer: a retry
 * is made in the pass that ends the task it replaces.
 */
export function newestFirst(a: TaskRecord, b: TaskRecord): number {
  const wanted = (t: TaskRecord): number => (t.desiredState === 'running' ? 1 : 0);
  return b.createdAt - a.createdAt || wanted(b) - wanted(a);
}
