// Pure merges of what agents report into the records: task status forward-only, node facts.
import type { StatusMessage, TaskReport } from '../../shared/protocol.js';
import { canAdvance, type NodeRecord, type TaskRecord } from '../../shared/spec.js';

/** The task after an agent's report; states only move forward. Null when nothing changes. */
export function applyReport(t: TaskRecord, r: TaskReport, now: number): TaskRecord | null {
  const s = t.status;
  const sameDetails =
    s.error === r.error &&
    s.exitCode === r.exitCode &&
    s.runtimeId === r.runtimeId &&
    s.restarts === r.restarts &&
    s.message === r.message &&
    (s.health ?? 'none') === r.health &&
    s.reasonCode === r.reasonCode &&
    (r.digest === undefined || r.digest === s.digest) &&
    JSON.stringify(s.hostPorts) === JSON.stringify(r.hostPorts);
  if (r.state === s.state && sameDetails) return null;
  if (r.state !== s.state && !canAdvance(s.state, r.state)) return null;
  return {
    ...t,
    status: {
      state: r.state,
      message: r.message,
      error: r.error,
      exitCode: r.exitCode,
      hostPorts: r.hostPorts,
      runtimeId: r.runtimeId,
      restarts: r.restarts,
      at: r.state === s.state ? s.at : now,
      ...(r.health !== 'none' ? { health: r.health } : {}),
      ...(r.reasonCode ? { reasonCode: r.reasonCode } : {}),
      // An agent that restarted reports adopted tasks without the digest it resolved before.
      ...((r.digest ?? s.digest) ? { digest: r.digest ?? s.digest } : {}),
      ...readySince(s, r, now),
    },
    updatedAt: now,
  };
}

/** A task is ready while it runs and its check (if any) says healthy; the updater times from then. */
function readySince(s: TaskRecord['status'], r: TaskReport, now: number): { readyAt?: number } {
  const ready = r.state === 'running' && (r.health === 'none' || r.health === 'healthy');
  if (!ready) return {};
  return { readyAt: s.readyAt ?? now };
}

/** The node after its agent's facts (resources, platform, disk); null when nothing changes. */
export function withInfo(
  n: NodeRecord,
  info: NonNullable<StatusMessage['node']>,
  now: number,
): NodeRecord | null {
  // A manager whose agent reports runs tasks from now on (`fleet manager start` without
  // --no-worker): its record, written at join with no worker, becomes schedulable.
  const becomesWorker = n.manager !== undefined && n.manager.worker !== true;
  const next: NodeRecord = {
    ...n,
    ...(becomesWorker && n.manager
      ? { manager: { ...n.manager, worker: true }, availability: 'active' as const }
      : {}),
    resources: info.resources,
    arch: info.platform.arch,
    os: info.platform.os,
    runtime: info.runtime,
    address: info.address,
    agentVersion: info.agentVersion,
    ...(info.protocolVersion !== undefined ? { protocolVersion: info.protocolVersion } : {}),
    allowDevices: info.allowDevices === true,
    ...(info.engineVersion !== undefined ? { engineVersion: info.engineVersion } : {}),
    ...(info.nodeVersion !== undefined ? { nodeVersion: info.nodeVersion } : {}),
    ...(info.upgrade !== undefined ? { agentUpgrade: info.upgrade } : {}),
    ...(info.profile !== undefined ? { announcedProfile: info.profile } : {}),
    statusMessage: info.diskFull
      ? 'disk full'
      : n.statusMessage === 'disk full'
        ? ''
        : n.statusMessage,
  };
  const same =
    JSON.stringify([
      n.resources,
      n.arch,
      n.os,
      n.runtime,
      n.address,
      n.agentVersion,
      n.protocolVersion,
      n.allowDevices === true,
      n.engineVersion,
      n.nodeVersion,
      n.agentUpgrade,
      n.announcedProfile,
      n.statusMessage,
    ]) ===
    JSON.stringify([
      next.resources,
      next.arch,
      next.os,
      next.runtime,
      next.address,
      next.agentVersion,
      next.protocolVersion,
      next.allowDevices === true,
      next.engineVersion,
      next.nodeVersion,
      next.agentUpgrade,
      next.announcedProfile,
      next.statusMessage,
    ]);
  return same && !becomesWorker ? null : { ...next, updatedAt: now };
}
