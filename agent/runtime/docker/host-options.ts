// A task's options (mounts, devices, limits, hostname, user…) as the engine's container and host settings.
import type Docker from 'dockerode';
import { renderHostname, type MountSpec, type TaskOptions } from '../../../shared/spec.js';

/** What fills a --hostname template: the task's names and the node's. */
export interface TaskIdentity {
  serviceName: string;
  slot: number;
  taskId: string;
  nodeId: string;
  nodeName: string;
}

/** The container settings beside HostConfig that the options set. */
export type ContainerSettings = Pick<
  Docker.ContainerCreateOptions,
  'Hostname' | 'User' | 'WorkingDir' | 'StopSignal' | 'Tty' | 'Labels'
>;

const NANO_CPUS_PER_CORE = 1e9;

export function containerSettings(t: TaskOptions, who: TaskIdentity): ContainerSettings {
  const out: ContainerSettings = {};
  if (t.hostname) out.Hostname = renderHostname(t.hostname, who);
  if (t.user) out.User = t.user;
  if (t.workdir) out.WorkingDir = t.workdir;
  if (t.stopSignal) out.StopSignal = t.stopSignal;
  if (t.tty) out.Tty = true;
  if (t.containerLabels) out.Labels = { ...t.containerLabels };
  return out;
}

/** HostConfig fields for the options; fleet's own bind mounts (secrets, configs) come first. */
export function hostSettings(t: TaskOptions): Docker.HostConfig {
  const h: Docker.HostConfig = {};
  if (t.mounts?.length) h.Mounts = t.mounts.map(engineMount);
  if (t.readOnly) h.ReadonlyRootfs = true;
  if (t.devices?.length)
    h.Devices = t.devices.map((d) => ({
      PathOnHost: d.host,
      PathInContainer: d.container,
      CgroupPermissions: d.permissions,
    }));
  if (t.privileged) h.Privileged = true;
  if (t.capAdd?.length) h.CapAdd = [...t.capAdd];
  if (t.capDrop?.length) h.CapDrop = [...t.capDrop];
  if (t.groupAdd?.length) h.GroupAdd = [...t.groupAdd];
  if (t.sysctls) h.Sysctls = { ...t.sysctls };
  if (t.ulimits?.length)
    h.Ulimits = t.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  if (t.limits?.cpu) h.NanoCpus = Math.round(t.limits.cpu * NANO_CPUS_PER_CORE);
  if (t.limits?.memoryBytes) {
    h.Memory = t.limits.memoryBytes;
    // No swap beyond the limit: a task over it is killed rather than slowed to a crawl on an SD card.
    h.MemorySwap = t.limits.memoryBytes;
  }
  if (t.dns?.length) h.Dns = [...t.dns];
  return h;
}

/** One --mount in the engine's form; a named volume's driver and options travel with it. */
export function engineMount(m: MountSpec): Docker.MountSettings {
  const out: Docker.MountSettings = {
    Type: m.type,
    Source: m.source ?? '',
    Target: m.target,
    ReadOnly: m.readOnly === true,
  };
  if (m.type === 'volume' && (m.volumeDriver || m.volumeOptions))
    out.VolumeOptions = {
      NoCopy: false,
      Labels: {},
      DriverConfig: { Name: m.volumeDriver ?? 'local', Options: { ...m.volumeOptions } },
    };
  if (m.type === 'tmpfs' && m.tmpfsSizeBytes)
    out.TmpfsOptions = { SizeBytes: m.tmpfsSizeBytes, Mode: 0o1777 };
  return out;
}
