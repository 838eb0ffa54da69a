// The rolling update as a pure function: a service and its tasks in, the writes that move it on out.
import {
  taskName,
  updateSettings,
  type ServiceRecord,
  type TaskRecord,
  type UpdateSettings,
  type UpdateStatus,
} from '../../shared/spec.js';
import { isLive, newTask, shutdownTask, stillStopping } from '../orchestrator/tasks.js';

/** How one slot (a replica's number, or a node of a global service) stands in an update. */
type SlotState =
  /** Still runs a task of the old spec that nobody touched yet. */
  | 'pending'
  /** Being replaced: the old task stopping, the new one starting or being watched. */
  | 'inflight'
  /** Its new task stayed ready for the monitor period, or it needed no update. */
  | 'done'
  /** Its new task failed within the monitor period (counted): the update moves on. */
  | 'failed';

interface Slot {
  key: string;
  slot: number;
  nodeId: string | null;
  state: SlotState;
  /** Live tasks of an older spec. */
  old: TaskRecord[];
  /** The live task of the current spec. */
  current: TaskRecord | undefined;
  /** The slot holds a task of the current spec made since the update started. */
  touched: boolean;
  /** When it became done or failed (for --update-delay), or when it will be done (watching). */
  settledAt: number | null;
}

export interface UpdateStep {
  /** The service record to write, when its update status changed. */
  service?: ServiceRecord;
  tasks: TaskRecord[];
  /** When a pass is next due even if nothing changes (a monitor period or delay ending). */
  wakeAt: number | null;
}

const FAILED_STATES: ReadonlySet<string> = new Set(['failed', 'rejected']);

/** The update a pass works on: its settings, its slots, and the status it starts from. */
interface Run {
  service: ServiceRecord;
  tasks: readonly TaskRecord[];
  now: number;
  kind: UpdateStatus['kind'];
  cfg: UpdateSettings;
  slots: Slot[];
  /** The status this pass writes, changed in place by the phases. */
  next: UpdateStatus;
}

/**
 * The next step of a service's update (or rollback); no writes when there is nothing to do.
 * The phases, in order: find the running update (or start one), count new failures and stop on
 * too many, stop old tasks whose replacements are ready, hold at the canaries, start the next
 * slots, and mark the update done when no slot is left.
 */
export function planUpdate(
  service: ServiceRecord,
  tasks: readonly TaskRecord[],
  now: number,
): UpdateStep {
  const found = runningUpdate(service, tasks, now);
  if (!found) return { tasks: [], wakeAt: null };
  const { run, started } = found;
  const { next } = run;
  let changed = started;

  // Failures of new tasks within their monitor period count toward the ratio, once each.
  const fresh = newFailures(service, tasks, next, run.cfg);
  if (fresh.length > 0) {
    next.failedTaskIds = [...next.failedTaskIds, ...fresh.map((t) => t.id)];
    changed = true;
  }
  const halted = stopOnFailures(run, fresh);
  if (halted) return halted;

  const out = stopReplaced(run);
  const gate = canaryGate(run);
  if (gate === 'hold')
    return {
      service: { ...service, updateStatus: next, updatedAt: now },
      tasks: out,
      wakeAt: null,
    };
  if (gate.promoted) changed = true;
  const wakeAt = startSlots(run, gate.capacity, out);
  if (finishIfDone(run)) changed = true;
  return {
    ...(changed ? { service: { ...service, updateStatus: next, updatedAt: now } } : {}),
    tasks: out,
    wakeAt,
  };
}

/**
 * The update in progress, or a new one when tasks of an older spec remain and none runs (a record
 * from before updates were tracked): they are then replaced by the rules rather than all at once.
 * Null when paused, waiting for a canary promotion, or when there is nothing to update.
 */
function runningUpdate(
  service: ServiceRecord,
  tasks: readonly TaskRecord[],
  now: number,
): { run: Run; started: boolean } | null {
  let status = service.updateStatus;
  const settled = !status || status.state === 'completed' || status.state === 'rolled back';
  if (status && !settled && status.state !== 'updating' && status.state !== 'rolling back')
    return null; // paused, or canaries waiting for a promotion
  const kind = status?.kind ?? 'update';
  const cfg = updateSettings(service.spec, kind);
  let slots = slotsOf(service, tasks, status, cfg, now);
  if (settled) {
    if (!slots.some((s) => s.state === 'pending')) return null;
    status = {
      kind,
      state: kind === 'rollback' ? 'rolling back' : 'updating',
      message: '',
      startedAt: now,
      fromVersion: service.previousSpecVersion ?? service.specVersion,
      failedTaskIds: [],
      promoted: false,
    };
    slots = slotsOf(service, tasks, status, cfg, now);
  }
  if (!status) return null;
  return { run: { service, tasks, now, kind, cfg, slots, next: { ...status } }, started: settled };
}

/** Too many failures: roll back or pause by the failure action; null to go on. */
function stopOnFailures(run: Run, fresh: TaskRecord[]): UpdateStep | null {
  const { service, tasks, now, kind, cfg, next } = run;
  const total = Math.max(1, run.slots.length);
  const failures = next.failedTaskIds.length;
  if (failures === 0 || failures / total <= cfg.maxFailureRatio) return null;
  if (cfg.failureAction === 'continue') return null;
  const last = fresh.at(-1) ?? tasks.find((t) => t.id === next.failedTaskIds.at(-1));
  const why = failureText(last, failures, total);
  if (cfg.failureAction === 'rollback' && kind === 'update' && service.previousSpec)
    return { service: rolledBack(service, now, `update failed: ${why}`), tasks: [], wakeAt: now };
  next.state = kind === 'update' ? 'paused' : 'rollback paused';
  next.message = `${kind} paused: ${why}`;
  return { service: { ...service, updateStatus: next, updatedAt: now }, tasks: [], wakeAt: null };
}

/** Start-first: an old task stops once its replacement is ready. */
function stopReplaced(run: Run): TaskRecord[] {
  const out: TaskRecord[] = [];
  for (const s of run.slots) {
    if (s.current?.status.readyAt === undefined || s.current.status.state !== 'running') continue;
    for (const t of s.old) out.push(shutdownTask(t, run.now, 'replaced by update'));
    s.old = [];
  }
  return out;
}

const count = (slots: Slot[], st: SlotState): number => slots.filter((s) => s.state === st).length;

/**
 * How many slots may start now (parallelism, and the canaries until promoted); 'hold' when the
 * canaries are healthy and wait for `fleet service promote` (the status says so).
 */
function canaryGate(run: Run): { capacity: number; promoted: boolean } | 'hold' {
  const { service, kind, cfg, slots, next } = run;
  const inflight = count(slots, 'inflight');
  const canaries = kind === 'update' && !next.promoted ? canaryCount(cfg, slots.length) : 0;
  const capacity = cfg.parallelism === 0 ? Infinity : cfg.parallelism - inflight;
  if (canaries === 0) return { capacity, promoted: false };
  const touched = slots.filter((s) => s.touched).length;
  if (touched < canaries) return { capacity: canaries - touched, promoted: false };
  if (inflight > 0) return { capacity: 0, promoted: false };
  if (cfg.autoPromote) {
    next.promoted = true;
    next.message = `${canaries} canary task(s) stayed healthy: promoted`;
    return { capacity, promoted: true };
  }
  next.state = 'canary';
  next.message =
    `${canaries} canary task(s) healthy; run "fleet service promote ${service.spec.name}" ` +
    `to go on, or "fleet service rollback ${service.spec.name}"`;
  return 'hold';
}

/** Starts up to `capacity` pending slots unless --update-delay holds; returns when to wake. */
function startSlots(run: Run, capacity: number, out: TaskRecord[]): number | null {
  const { service, cfg, slots, now } = run;
  let wakeAt: number | null = null;
  const pending = slots.filter((s) => s.state === 'pending');
  const lastSettled = Math.max(
    -Infinity,
    ...slots
      .filter((s) => s.touched && s.state !== 'inflight')
      .map((s) => s.settledAt ?? -Infinity),
  );
  const delayUntil = cfg.delayMs > 0 && lastSettled > -Infinity ? lastSettled + cfg.delayMs : 0;
  if (pending.length > 0 && capacity > 0) {
    if (now < delayUntil) wakeAt = delayUntil;
    else
      for (const s of pending.slice(0, capacity)) {
        out.push(...startSlot(service, s, cfg, now));
        s.state = 'inflight';
      }
  }
  for (const s of slots) {
    if (s.state === 'inflight' && s.settledAt !== null && s.settledAt > now)
      wakeAt = Math.min(wakeAt ?? Infinity, s.settledAt);
  }
  return wakeAt;
}

/** Marks the update completed (or rolled back) when no slot is pending or in flight. */
function finishIfDone(run: Run): boolean {
  const { kind, slots, next, now } = run;
  if (count(slots, 'pending') > 0 || count(slots, 'inflight') > 0) return false;
  const failures = next.failedTaskIds.length;
  next.state = kind === 'update' ? 'completed' : 'rolled back';
  next.completedAt = now;
  next.message =
    kind === 'rollback'
      ? next.message.replace(/^rolling back/, 'rolled back') || 'rolled back'
      : failures > 0
        ? `update completed with ${failures} failed task(s)`
        : 'update completed';
  return true;
}

/** The service back on its previous spec, the rollback running under the rollback settings. */
export function rolledBack(service: ServiceRecord, now: number, reason: string): ServiceRecord {
  if (!service.previousSpec) throw new Error('no previous spec to roll back to');
  const last = service.lastSpecVersion ?? service.specVersion;
  return {
    ...service,
    spec: service.previousSpec,
    specVersion: service.previousSpecVersion ?? last + 1,
    previousSpec: service.spec,
    previousSpecVersion: service.specVersion,
    lastSpecVersion: Math.max(last, service.specVersion),
    updateStatus: {
      kind: 'rollback',
      state: 'rolling back',
      message: `rolling back: ${reason}`,
      startedAt: now,
      fromVersion: service.specVersion,
      failedTaskIds: [],
      promoted: true,
    },
    updatedAt: now,
  };
}

/** Canaries for N slots: the count given, or the percentage rounded up; never more than N. */
export function canaryCount(cfg: UpdateSettings, slots: number): number {
  const n = cfg.canary > 0 ? cfg.canary : Math.ceil((cfg.canaryPercent / 100) * slots);
  return Math.min(n, slots);
}

function slotsOf(
  service: ServiceRecord,
  tasks: readonly TaskRecord[],
  status: UpdateStatus | undefined,
  cfg: UpdateSettings,
  now: number,
): Slot[] {
  const global = service.spec.mode === 'global';
  const groups = new Map<string, TaskRecord[]>();
  for (const t of tasks) {
    if (!global && (t.slot < 1 || t.slot > service.spec.replicas)) continue;
    const key = global ? (t.nodeId ?? '') : String(t.slot);
    if (global && !key) continue;
    const g = groups.get(key) ?? [];
    g.push(t);
    groups.set(key, g);
  }
  const failed = new Set(status?.failedTaskIds ?? []);
  const since = status?.startedAt ?? Infinity;
  const slots: Slot[] = [];
  for (const [key, group] of groups) {
    const live = group.filter(isLive).sort((a, b) => b.createdAt - a.createdAt);
    const current = live.find((t) => t.specVersion === service.specVersion);
    const old = live.filter((t) => t.specVersion !== service.specVersion);
    const mine = group.filter((t) => t.specVersion === service.specVersion && t.createdAt >= since);
    // A global service's slot only counts while some task there is live (the node is eligible).
    if (global && live.length === 0) continue;
    const slot: Slot = {
      key,
      slot: global ? 0 : Number(key),
      nodeId: global ? key : null,
      state: 'done',
      old,
      current,
      touched: false,
      settledAt: null,
    };
    const readyAt = current?.status.state === 'running' ? current.status.readyAt : undefined;
    const stopping = group.some(
      (t) => t.specVersion !== service.specVersion && stillStopping(t, now),
    );
    // A replica whose old task this update stopped (stop-first) waits for the orchestrator to
    // refill it: until its new task exists the slot is not done, or the update would complete
    // before the new task could fail.
    const refill =
      !global &&
      !current &&
      group.some(
        (t) =>
          t.specVersion !== service.specVersion &&
          t.desiredState === 'shutdown' &&
          t.updatedAt >= since,
      );
    // Started by this update: its new task exists, or its old task is stopping (or stopped) for it.
    slot.touched = mine.length > 0 || ((stopping || refill) && old.length === 0);
    if (old.length > 0 && !current) slot.state = 'pending';
    else if (old.length > 0 || stopping) slot.state = 'inflight';
    else if (!current) slot.state = mine.length > 0 || refill ? 'inflight' : 'done';
    else if (mine.length === 0 || current.createdAt < since) slot.state = 'done';
    else if (readyAt !== undefined && now - readyAt >= cfg.monitorMs) {
      slot.state = 'done';
      slot.settledAt = readyAt + cfg.monitorMs;
    } else {
      slot.state = 'inflight';
      if (readyAt !== undefined) slot.settledAt = readyAt + cfg.monitorMs;
    }
    // A slot whose new task failed (and was counted) does not hold the update up.
    if (slot.state === 'inflight' && old.length === 0 && !stopping) {
      const lastFail = mine
        .filter((t) => failed.has(t.id))
        .sort((a, b) => b.status.at - a.status.at)[0];
      if (lastFail && !(current && readyAt !== undefined)) {
        slot.state = 'failed';
        slot.settledAt = lastFail.status.at;
      }
    }
    slots.push(slot);
  }
  return slots.sort((a, b) => a.slot - b.slot || a.key.localeCompare(b.key));
}

/** New tasks of this update that failed before staying ready for the monitor period. */
function newFailures(
  service: ServiceRecord,
  tasks: readonly TaskRecord[],
  status: UpdateStatus,
  cfg: UpdateSettings,
): TaskRecord[] {
  const known = new Set(status.failedTaskIds);
  return tasks
    .filter(
      (t) =>
        t.specVersion === service.specVersion &&
        t.createdAt >= status.startedAt &&
        !known.has(t.id) &&
        FAILED_STATES.has(t.status.state) &&
        (t.status.readyAt === undefined || t.status.at - t.status.readyAt < cfg.monitorMs),
    )
    .sort((a, b) => a.status.at - b.status.at);
}

function failureText(t: TaskRecord | undefined, failures: number, total: number): string {
  const what = t
    ? `task ${taskName(t)} ${t.status.state === 'rejected' ? 'was rejected' : 'failed'}: ${
        t.status.error ?? t.status.message
      }`
    : 'tasks failed';
  return `${what} (${failures} of ${total} failed)`;
}

/** Replaces a slot's old task: stop it first, or start the new one beside it. */
function startSlot(
  service: ServiceRecord,
  s: Slot,
  cfg: UpdateSettings,
  now: number,
): TaskRecord[] {
  if (cfg.order === 'stop-first')
    return s.old.map((t) => shutdownTask(t, now, 'replaced by update'));
  const history = s.old[0]?.restartHistory ?? [];
  return [newTask(service, s.slot, s.nodeId, now, { restartHistory: history })];
}
