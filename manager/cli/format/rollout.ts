// How an agent upgrade rollout reads for people: progress lines while following, and the table of `node upgrade --status`.
import type { RolloutNode, RolloutRecord } from '../../../shared/ota/rollout-record.js';
import { formatDuration, renderTable } from '../format.js';

/** "upgrade to 0.2.0: updating, 2 of 5 nodes upgraded, 1 failed". */
export function rolloutSummary(r: RolloutRecord): string {
  const counted = r.nodes.filter((n) => n.state !== 'skipped' || r.kind === 'upgrade');
  const done = counted.filter((n) => n.state === 'done' || n.state === 'skipped').length;
  const failed = r.nodes.filter((n) => n.state === 'failed').length;
  const verb = r.kind === 'rollback' ? 'rolled back' : 'upgraded';
  const tail = failed > 0 ? `, ${failed} failed` : '';
  return `${r.kind} to ${r.release}: ${r.state}, ${done} of ${counted.length} nodes ${verb}${tail}`;
}

/** One line per node: "pi-2: upgrading to 0.2.0", "pi-3: failed: its agent fell back: …". */
export function nodeLine(r: RolloutRecord, n: RolloutNode): string {
  const role = n.manager ? ' (manager)' : '';
  const why = n.reason ? `: ${n.reason}` : '';
  const to =
    n.target && (n.state === 'upgrading' || n.state === 'monitoring') ? ` to ${n.target}` : '';
  return `${n.name}${role}: ${n.state}${to}${why}`;
}

/** The lines a follower prints: the summary first, then one per node, keyed for ProgressPrinter. */
export function rolloutLines(r: RolloutRecord): Map<string, string> {
  const lines = new Map([['overall', rolloutSummary(r)]]);
  for (const n of r.nodes) lines.set(n.nodeId, nodeLine(r, n));
  return lines;
}

/** `fleet node upgrade --status`: the rollout, its settings and message, and a table of its nodes. */
export function renderRollout(r: RolloutRecord): string {
  const s = r.settings;
  const head = [
    `ID:         ${r.id}`,
    `Release:    ${r.release}`,
    `State:      ${r.state}${r.kind === 'rollback' ? ' (rollback)' : ''}`,
    `Message:    ${r.message}`,
    `Started:    ${new Date(r.createdAt).toISOString()}`,
    `Settings:   parallelism ${s.parallelism}, delay ${formatDuration(s.delayMs)}, monitor ` +
      `${formatDuration(s.monitorMs)}, failure action ${s.failureAction}, max failure ratio ` +
      `${s.maxFailureRatio}${s.canary > 0 ? `, canary ${s.canary}` : ''}`,
    '',
  ];
  const rows = r.nodes.map((n) => [
    n.name,
    n.manager ? 'manager' : 'worker',
    n.state,
    n.from || '-',
    n.target ?? '-',
    n.reason ?? '',
  ]);
  return head.join('\n') + renderTable(['NODE', 'ROLE', 'STATE', 'FROM', 'TARGET', 'REASON'], rows);
}
