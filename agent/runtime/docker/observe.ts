// Observed state from the engine: a container's inspection as a workload, and what of a listing says it changed.
import type Docker from 'dockerode';
import type { HostPort } from '../../../shared/spec.js';
import { LABELS, type ObservedWorkload } from '../types.js';
import type { Binding } from './create-options.js';

/**
 * What of a listing says a container's state changed: its state and what Status holds in
 * parentheses (exit code, health), without the ever-changing "Up 5 seconds" part.
 */
export function summaryKey(s: { State: string; Status: string }): string {
  return `${s.State}${(s.Status.match(/\([^)]*\)/g) ?? []).join('')}`;
}

/** The workload a fleet container is; null for a container without fleet's labels. */
export function toWorkload(info: Docker.ContainerInspectInfo): ObservedWorkload | null {
  const labels: Record<string, string | undefined> = info.Config.Labels ?? {};
  const nodeId = labels[LABELS.node];
  const taskId = labels[LABELS.task];
  if (nodeId === undefined || taskId === undefined) return null;
  const startedAt = dockerTime(info.State.StartedAt);
  const running = info.State.Running;
  return {
    runtimeId: info.Id,
    taskId,
    serviceName: labels[LABELS.service] ?? '',
    slot: Number(labels[LABELS.slot] ?? 0) || 0,
    nodeId,
    running,
    // A container that never started has ExitCode 0, which would read as a clean exit.
    exitCode: running || startedAt === null ? null : info.State.ExitCode,
    startedAt,
    finishedAt: running ? null : finishedAt(startedAt, dockerTime(info.State.FinishedAt)),
    hostPorts: hostPortsOf(info),
    ...healthOf(info),
    ...(!running && info.State.OOMKilled ? { exitReason: outOfMemory(info) } : {}),
  };
}

/** "out of memory (limit 32 MiB)": the kernel killed the task at its --limit-memory. */
function outOfMemory(info: Docker.ContainerInspectInfo): string {
  const limit = info.HostConfig.Memory ?? 0;
  return limit > 0
    ? `out of memory (limit ${formatMiB(limit)})`
    : 'out of memory (the node ran out)';
}

const formatMiB = (bytes: number): string => {
  const mib = bytes / 1024 ** 2;
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
};

/** The engine's health verdict and the last check's output, when the container has a check. */
function healthOf(
  info: Docker.ContainerInspectInfo,
): Pick<ObservedWorkload, 'health' | 'healthOutput'> {
  const h = info.State.Health;
  if (!info.State.Running || !h) return {};
  const status = h.Status;
  if (status !== 'starting' && status !== 'healthy' && status !== 'unhealthy') return {};
  const last = h.Log?.[h.Log.length - 1];
  const output = last ? `exit ${last.ExitCode}: ${last.Output.trim()}`.slice(0, 300) : undefined;
  return { health: status, ...(output ? { healthOutput: output } : {}) };
}

function hostPortsOf(info: Docker.ContainerInspectInfo): HostPort[] {
  const out: HostPort[] = [];
  const ports: Record<string, Binding[] | null | undefined> = info.NetworkSettings.Ports ?? {};
  for (const [key, list] of Object.entries(ports)) {
    const [target, proto] = key.split('/');
    for (const b of list ?? []) {
      const hostPort = Number(b.HostPort);
      if (!hostPort) continue;
      const protocol = proto === 'udp' ? 'udp' : 'tcp';
      const entry = { target: Number(target), protocol, hostIp: b.HostIp, hostPort } as const;
      if (!out.some((o) => o.target === entry.target && o.hostPort === hostPort)) out.push(entry);
    }
  }
  return out;
}

/** The engine can stamp an instant exit a few ms before the start; keep the order sane. */
function finishedAt(started: number | null, finished: number | null): number | null {
  return started !== null && finished !== null ? Math.max(started, finished) : finished;
}

/** Docker writes the zero time (year 1) for "never"; that becomes null. */
function dockerTime(text: string | undefined): number | null {
  if (!text) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}
