// Following a service after a command: polls until its tasks converge or its update ends, printing task lines.
import type { ServiceDetail, TaskView } from '../../../shared/api.js';
import { systemClock, type Clock } from '../../../shared/clock.js';
import { FleetError } from '../../../shared/errors.js';
import { TASK_STATES, isJobMode } from '../../../shared/spec.js';
import { ProgressPrinter, formatDuration, progressLines } from '../format.js';
import type { RpcClient } from '../rpc-client.js';
import { jobProgress } from './job-progress.js';
import { cannotConverge } from './stuck.js';

// ---- convergence: poll until the tasks match the spec, as docker service create does

const POLL_MS = 300;
/** Converged must hold on consecutive polls, so a task that starts and dies at once is caught. */
const STABLE_POLLS = 2;
/** The states a task passes through on its way to running. */
const IN_PROGRESS: ReadonlySet<string> = new Set(
  TASK_STATES.slice(0, TASK_STATES.indexOf('running')),
);

export interface Convergence {
  converged: boolean;
  running: number;
  desired: number;
  /** Progress lines: "overall" first, then one per task name (slot, or node for global services). */
  lines: Map<string, string>;
}

/**
 * Converged: as many current tasks running (and healthy, when checked) as desired, and none
 * still on its way. After an update that replaces tasks, only tasks of the service's current
 * spec version count.
 */
export function convergence(detail: ServiceDetail, tasks: readonly TaskView[]): Convergence {
  if (isJobMode(detail.mode)) return jobProgress(detail, tasks);
  const isCurrent = (t: TaskView): boolean => t.specVersion === detail.specVersion;
  const wanted = tasks.filter((t) => t.desiredState === 'running');
  // A task with a health check counts once it is healthy, as Docker's convergence does.
  const running = wanted.filter(
    (t) => t.state === 'running' && isCurrent(t) && (t.health === 'none' || t.health === 'healthy'),
  ).length;
  const busy = wanted.some((t) => IN_PROGRESS.has(t.state) || !isCurrent(t));
  const desired = detail.mode === 'replicated' ? detail.spec.replicas : detail.replicas.desired;
  const lines = new Map([
    ['overall', `overall progress: ${running} out of ${desired} tasks running`],
  ]);
  for (const [name, line] of progressLines(tasks, isCurrent)) lines.set(name, line);
  return { converged: running === desired && !busy, running, desired, lines };
}

/** What one poll of a followed service found. */
interface Reading {
  state: Convergence;
  /** The end the command waits for holds now (it must hold on STABLE_POLLS polls in a row). */
  settled: boolean;
  /** The command's work is over without settling: this is printed and the command returns. */
  stopWith?: string;
  /** Heads the reason when the time runs out. */
  summary?: string;
}

/** How long to follow a service; the clock and the output are the system's and stdout unless given. */
export interface FollowOptions {
  timeoutMs: number;
  clock?: Clock;
  out?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/**
 * Polls a service, printing progress, until `read` says it settled (on consecutive polls) or
 * stops, or throws, or the time runs out.
 */
async function followService(
  client: RpcClient,
  service: string,
  opts: FollowOptions,
  read: (detail: ServiceDetail, tasks: TaskView[]) => Reading,
): Promise<void> {
  const { timeoutMs, clock = systemClock, out = process.stdout } = opts;
  const printer = new ProgressPrinter(out);
  const deadline = clock.now() + timeoutMs;
  const stopListening = continueInBackgroundOnInterrupt(service);
  try {
    for (let stable = 0; ; await clock.sleep(POLL_MS)) {
      const [detail, tasks] = await Promise.all([
        client.call('service.inspect', { service }),
        client.call('service.ps', { service, all: true }),
      ]);
      const reading = read(detail, tasks);
      printer.update(reading.state.lines);
      const stuck = cannotConverge(detail, tasks);
      if (stuck) throw givenUp(service, stuck.message);
      if (reading.stopWith !== undefined) {
        out.write(`${reading.stopWith}\n`);
        return;
      }
      stable = reading.settled ? stable + 1 : 0;
      if (stable >= STABLE_POLLS) {
        out.write(`verify: Service ${service} converged\n`);
        return;
      }
      if (clock.now() >= deadline)
        throw notConverged(service, timeoutMs, reading.state, reading.summary);
    }
  } finally {
    stopListening();
  }
}

/** Follows a service until its tasks match its spec on consecutive polls, as docker service create does. */
export async function waitForConvergence(
  client: RpcClient,
  service: string,
  opts: FollowOptions,
): Promise<void> {
  let gaveUp = 0;
  await followService(client, service, opts, (detail, tasks) => {
    const state = convergence(detail, tasks);
    // A job none of whose tasks is trying any more (out of restart attempts) cannot complete.
    gaveUp = isJobMode(detail.mode) && jobProgress(detail, tasks).failed ? gaveUp + 1 : 0;
    if (gaveUp >= STABLE_POLLS)
      throw new FleetError(
        'unavailable',
        `job ${service} failed: ${state.running} of ${state.desired} tasks completed and no task is retrying`,
      );
    return { state, settled: state.converged };
  });
}

/** Said once; the managers keep retrying, as Swarm's do, in case the cause goes away. */
function givenUp(service: string, message: string): FleetError {
  return new FleetError(
    'unavailable',
    `service ${service} cannot converge: ${message}\n` +
      `The service stays and keeps being retried: 'fleet service ps ${service}' shows it, ` +
      `'fleet service rm ${service}' removes it.`,
  );
}

/** `summary` replaces the count of running tasks at the head of the reason. */
function notConverged(
  service: string,
  timeoutMs: number,
  state: Convergence,
  summary = `${state.running} of ${state.desired} tasks running`,
): FleetError {
  const stuck = [...state.lines]
    .filter(([key, line]) => key !== 'overall' && !line.endsWith(': running'))
    .map(([, line]) => line)
    .slice(0, 3);
  const reason = [summary, ...stuck].join('; ');
  return new FleetError(
    'unavailable',
    `service ${service} did not converge within ${formatDuration(timeoutMs)}: ${reason}`,
  );
}

/** Ctrl-C stops watching, not the service: the managers keep converging it. */
function continueInBackgroundOnInterrupt(service: string): () => void {
  const onInterrupt = (): void => {
    process.stderr.write(
      `\nOperation continuing in the background.\nUse 'fleet service ps ${service}' to check progress.\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
}

// ---- rolling updates: follow one task at a time until the update completes, pauses or rolls back

const isActive = (d: ServiceDetail): boolean =>
  d.updateStatus?.state === 'updating' || d.updateStatus?.state === 'rolling back';

/**
 * Whether an update started (or resumed) replacing tasks: a new spec version, or an update that
 * was paused now running again. A scale, or a change tasks do not see, only needs convergence.
 */
export function replacesTasks(before: ServiceDetail, after: ServiceDetail): boolean {
  return after.specVersion !== before.specVersion || (isActive(after) && !isActive(before));
}

/** Where a followed update stands: still running, over, or stopped short of the end. */
export type UpdateOutcome =
  | { kind: 'running' }
  | { kind: 'done' }
  /** Canaries wait for promotion: the command's work is done. */
  | { kind: 'waiting'; message: string }
  | { kind: 'failed'; message: string };

/** `expect` is what the command asked for: a rollback ending 'rolled back' is its success. */
export function updateOutcome(d: ServiceDetail, expect: 'update' | 'rollback'): UpdateOutcome {
  const u = d.updateStatus;
  if (!u) return { kind: 'done' };
  switch (u.state) {
    case 'updating':
    case 'rolling back':
      return { kind: 'running' };
    case 'completed':
      return { kind: 'done' };
    case 'canary':
      return { kind: 'waiting', message: u.message || `canaries of ${d.name} wait for promotion` };
    case 'rolled back': {
      if (expect === 'rollback') return { kind: 'done' };
      const reason = u.message.replace(/^rolled back:?\s*/, '');
      return {
        kind: 'failed',
        message: `service ${d.name} rolled back${reason ? `: ${reason}` : ''}`,
      };
    }
    case 'paused':
    case 'rollback paused':
      return { kind: 'failed', message: u.message || `${u.kind} of service ${d.name} paused` };
  }
}

/** The progress lines while an update runs: "update: updating, 2 of 6 tasks updated", then tasks. */
export function updateProgress(detail: ServiceDetail, tasks: readonly TaskView[]): Convergence {
  const state = convergence(detail, tasks);
  const u = detail.updateStatus;
  const kind = u?.kind ?? 'update';
  const done = kind === 'rollback' ? 'rolled back' : 'updated';
  const failed = u && u.failedTasks > 0 ? `, ${u.failedTasks} failed` : '';
  const overall = `${kind}: ${u?.state ?? 'updating'}, ${state.running} of ${state.desired} tasks ${done}${failed}`;
  const lines = new Map([['overall', overall]]);
  for (const [key, line] of state.lines) if (key !== 'overall') lines.set(key, line);
  return { ...state, lines };
}

/**
 * Follows an update or rollback until it ends: completed (and converged) returns, canaries
 * waiting for promotion return with their message, a pause or an unwanted rollback throws.
 */
export async function followUpdate(
  client: RpcClient,
  service: string,
  opts: FollowOptions & { kind: 'update' | 'rollback' },
): Promise<void> {
  await followService(client, service, opts, (detail, tasks) => {
    const state = updateProgress(detail, tasks);
    const outcome = updateOutcome(detail, opts.kind);
    if (outcome.kind === 'failed') throw new FleetError('conflict', outcome.message);
    if (outcome.kind === 'waiting') return { state, settled: false, stopWith: outcome.message };
    return {
      state,
      settled: outcome.kind === 'done' && state.converged,
      summary: state.lines.get('overall'),
    };
  });
}
