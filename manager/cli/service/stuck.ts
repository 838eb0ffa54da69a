// Says early when a followed service cannot converge: every node its placement allows refused it for one permanent reason.
import type { ServiceDetail, TaskView } from '../../../shared/api.js';
import {
  isPermanentReject,
  rejectAdvice,
  rejectHeadline,
  type RejectReason,
} from '../../../shared/reject-reasons.js';

/** Why a service cannot converge as it stands, with what to do next. */
export interface CannotConverge {
  code: RejectReason;
  /** "none of the 2 suitable nodes can pull app:1: <the agent's error> — <advice>" */
  message: string;
}

/**
 * Gives up when every eligible node rejected a task of the current spec with the same permanent
 * reason code, and no task of that spec runs or completed anywhere. A permanent refusal holds
 * for the spec on that node: a retry queued there behind its restart delay would only repeat
 * it. A node not yet tried, a rejection that may pass (no memory now) or two different reasons
 * keep the follower waiting. The managers go on retrying in the background either way.
 */
export function cannotConverge(
  detail: ServiceDetail,
  tasks: readonly TaskView[],
): CannotConverge | null {
  const nodes = detail.eligibleNodes ?? [];
  if (nodes.length === 0) return null;
  const current = tasks.filter((t) => t.specVersion === detail.specVersion);
  if (current.some((t) => t.state === 'running' || t.state === 'complete')) return null;
  let code: RejectReason | undefined;
  let error = '';
  for (const node of nodes) {
    const latest = current
      .filter((t) => t.node === node && t.state === 'rejected')
      .sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt))[0];
    if (!latest || !isPermanentReject(latest.reasonCode)) return null;
    if (code !== undefined && latest.reasonCode !== code) return null;
    code = latest.reasonCode;
    error ||= latest.error ?? '';
  }
  if (code === undefined) return null;
  const image = detail.spec.task.image;
  const head = rejectHeadline(code, image, nodes.length);
  return { code, message: `${head}: ${error} — ${rejectAdvice(code, image)}` };
}
