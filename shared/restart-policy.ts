// The restart policy as a pure decision, used by the manager and by an agent cut off from it.
import type { RestartPolicy } from './spec.js';

export type Ending = 'complete' | 'failed' | 'rejected';

export type RestartDecision =
  { restart: false; reason: string } | { restart: true; delayMs: number };

/**
 * Decides whether a slot whose task ended gets another task.
 * `history` holds the times of earlier restarts in the slot; `consecutiveRejects` backs off a
 * task that cannot even start (a missing image), so it does not spin.
 */
export function decideRestart(
  policy: RestartPolicy,
  ending: Ending,
  history: readonly number[],
  now: number,
  consecutiveRejects = 0,
): RestartDecision {
  if (policy.condition === 'none') return { restart: false, reason: 'restart condition is none' };
  if (policy.condition === 'on-failure' && ending === 'complete') {
    return { restart: false, reason: 'task completed and restart condition is on-failure' };
  }
  if (policy.maxAttempts > 0) {
    const recent = countInWindow(policy, history, now);
    if (recent >= policy.maxAttempts) {
      return {
        restart: false,
        reason: `restart attempts exhausted (${recent}/${policy.maxAttempts})`,
      };
    }
  }
  const backoff = consecutiveRejects > 0 ? Math.min(2 ** (consecutiveRejects - 1), 60) : 1;
  return { restart: true, delayMs: Math.min(policy.delayMs * backoff, 5 * 60_000) };
}

export function countInWindow(
  policy: RestartPolicy,
  history: readonly number[],
  now: number,
): number {
  if (policy.windowMs <= 0) return history.length;
  return history.filter((t) => now - t < policy.windowMs).length;
}

/** The history the next task of the slot carries: old entries outside the window are dropped. */
export function nextHistory(
  policy: RestartPolicy,
  history: readonly number[],
  now: number,
): number[] {
  const kept =
    policy.windowMs > 0 ? history.filter((t) => now - t < policy.windowMs) : [...history];
  kept.push(now);
  return kept.slice(-100);
}
