// A task as the engine's container create options: name, labels, ports, health check, mounts and host settings.
import type Docker from 'dockerode';
import type { AssignedTask } from '../../../shared/protocol.js';
import type { Healthcheck, PortSpec } from '../../../shared/spec.js';
import { LABELS, type StartOptions } from '../types.js';
import { containerSettings, hostSettings } from './host-options.js';

/** One host binding of a container port, as the engine writes and reports it. */
export type Binding = { HostIp: string; HostPort: string };

/** `<service>.<slot>.<task>`, or `<service>.<node8>.<task>` for global tasks, in Docker's charset. */
export function containerName(task: AssignedTask, nodeId: string): string {
  const middle = task.slot > 0 ? String(task.slot) : nodeId.slice(0, 8);
  const clean = `${task.serviceName}.${middle}.${task.id}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return /^[a-zA-Z0-9]/.test(clean) ? clean : `x${clean}`;
}

export function createOptions(
  task: AssignedTask,
  opts: StartOptions,
  name: string,
): Docker.ContainerCreateOptions {
  const t = task.template;
  const { exposed, bindings } = portBindings(t.ports, opts.hostIp);
  const settings = containerSettings(t, {
    serviceName: task.serviceName,
    slot: task.slot,
    taskId: task.id,
    nodeId: opts.nodeId,
    nodeName: opts.nodeName ?? opts.nodeId,
  });
  const hostConfig: Docker.HostConfig = {
    ...hostSettings(t),
    PortBindings: bindings,
    // fleet decides restarts itself, by the service's restart policy.
    RestartPolicy: { Name: 'no' },
    // A program that is PID 1 ignores SIGTERM unless it handles it, and every stop waits out
    // the grace period: with --init, an init process in front of it passes the signal on.
    Init: t.init === true,
  };
  if (t.resources.memoryBytes > 0) hostConfig.MemoryReservation = t.resources.memoryBytes;
  const healthcheck = t.healthcheck ? dockerHealthcheck(t.healthcheck) : undefined;
  const mounts = opts.files?.mounts ?? [];
  if (mounts.length > 0) {
    hostConfig.Mounts = [
      ...mounts.map((m) => ({
        Type: 'bind' as const,
        Source: m.source,
        Target: m.target,
        ReadOnly: true,
      })),
      ...(hostConfig.Mounts ?? []),
    ];
  }
  return {
    name,
    ...settings,
    Image: opts.image ?? t.image,
    ...(t.command.length > 0 ? { Cmd: t.command } : {}),
    ...(t.entrypoint ? { Entrypoint: t.entrypoint } : {}),
    Env: Object.entries(t.env).map(([k, v]) => `${k}=${v}`),
    Labels: {
      // --container-label first: fleet's own labels are what observed state is rebuilt from.
      ...settings.Labels,
      [LABELS.node]: opts.nodeId,
      [LABELS.service]: task.serviceName,
      [LABELS.task]: task.id,
      [LABELS.slot]: String(task.slot),
    },
    ExposedPorts: exposed,
    HostConfig: hostConfig,
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
  };
}

const NS_PER_MS = 1_000_000;

/** The engine's form: durations in nanoseconds; an absent Test keeps the image's command. */
function dockerHealthcheck(h: Healthcheck): Docker.HealthConfig {
  const out: Docker.HealthConfig = {};
  if (h.test) out.Test = h.test;
  if (h.intervalMs !== undefined) out.Interval = h.intervalMs * NS_PER_MS;
  if (h.timeoutMs !== undefined) out.Timeout = h.timeoutMs * NS_PER_MS;
  if (h.retries !== undefined) out.Retries = h.retries;
  if (h.startPeriodMs !== undefined) out.StartPeriod = h.startPeriodMs * NS_PER_MS;
  return out;
}

/** Ingress ports get an ephemeral host port (HostPort ''); host-mode ports the published one. */
function portBindings(
  ports: PortSpec[],
  hostIp: string,
): { exposed: Record<string, Record<string, never>>; bindings: Record<string, Binding[]> } {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Binding[]> = {};
  for (const p of ports) {
    const key = `${p.target}/${p.protocol}`;
    const hostPort = p.mode === 'host' && p.published !== undefined ? String(p.published) : '';
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hostPort });
  }
  return { exposed, bindings };
}
