// What the agent remembers about each task between reconcile passes, and how it reports it.
import type { RejectReason } from '../../shared/reject-reasons.js';
import type { TaskReport } from '../../shared/protocol.js';
import type { HostPort, TaskHealth, TaskState } from '../../shared/spec.js';

export interface LocalTask {
  state: TaskState;
  message: string;
  error: string | null;
  exitCode: number | null;
  runtimeId: string | null;
  hostPorts: HostPort[];
  restarts: number;
  health: TaskHealth;
  lastExitAt: number | null;
  /** Times of restarts the agent made on its own, for the restart policy's attempt limit. */
  localRestarts: number[];
  at: number;
  /** Why the task was rejected, when the error said (a rejection's code, not its text). */
  reasonCode?: RejectReason;
  /** The registry digest of the image prepared for the task, when it has one. */
  digest: string | null;
  /** Why the board runs a local image instead of a fresh pull, if it does. */
  imageNote: string | null;
}

export function freshLocal(now: number): LocalTask {
  return {
    state: 'accepted',
    message: 'accepted',
    error: null,
    exitCode: null,
    runtimeId: null,
    hostPorts: [],
    restarts: 0,
    health: 'none',
    lastExitAt: null,
    localRestarts: [],
    at: now,
    digest: null,
    imageNote: null,
  };
}

/** A running task's status message: why it runs a local image instead of a fresh pull, if so. */
export const runningMessage = (imageNote: string | null): string =>
  imageNote ? `running (${imageNote})` : 'running';

export function toReport(taskId: string, l: LocalTask): TaskReport {
  return {
    taskId,
    state: l.state,
    message: l.message,
    error: l.error,
    exitCode: l.exitCode,
    hostPorts: l.hostPorts,
    runtimeId: l.runtimeId,
    restarts: l.restarts,
    at: l.at,
    health: l.health,
    ...(l.reasonCode ? { reasonCode: l.reasonCode } : {}),
    ...(l.digest ? { digest: l.digest } : {}),
  };
}
