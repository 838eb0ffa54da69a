// Which task options a plain process can honour (--workdir, a numeric --user), and a clear refusal for the rest.
import { promises as fs } from 'node:fs';
import type { TaskTemplate } from '../../../shared/spec.js';
import { TaskRejectedError } from '../types.js';

/** Options that need a container: a process has no mount namespace, cgroup or hostname of its own. */
const CONTAINER_ONLY: readonly [keyof TaskTemplate, string][] = [
  ['mounts', '--mount'],
  ['readOnly', '--read-only'],
  ['devices', '--device'],
  ['privileged', '--privileged'],
  ['capAdd', '--cap-add'],
  ['capDrop', '--cap-drop'],
  ['groupAdd', '--group-add'],
  ['sysctls', '--sysctl'],
  ['ulimits', '--ulimit'],
  ['limits', '--limit-cpu/--limit-memory'],
  ['hostname', '--hostname'],
  ['containerLabels', '--container-label'],
  ['stopSignal', '--stop-signal'],
  ['dns', '--dns'],
  ['tty', '--tty'],
];

/** Settings of the spawn: the working directory and a numeric user and group. */
export interface SpawnSettings {
  cwd?: string;
  uid?: number;
  gid?: number;
}

/** Throws TaskRejectedError naming every option this runtime cannot honour, or a missing workdir. */
export async function checkProcessOptions(t: TaskTemplate): Promise<void> {
  if (isSet(t.networks))
    throw new TaskRejectedError(
      'the process runtime cannot join networks (--network): networks need the docker runtime',
    );
  const used = CONTAINER_ONLY.filter(([key]) => isSet(t[key])).map(([, flag]) => flag);
  if (used.length > 0)
    throw new TaskRejectedError(
      `the process runtime cannot honour ${used.join(', ')}: run this service on a Docker agent`,
    );
  if (t.user !== undefined && !/^\d+(:\d+)?$/.test(t.user))
    throw new TaskRejectedError(
      `the process runtime takes a numeric --user UID[:GID], not "${t.user}"`,
    );
  if (t.workdir !== undefined) {
    const dir = await fs.stat(t.workdir).catch(() => null);
    if (!dir?.isDirectory())
      throw new TaskRejectedError(`working directory ${t.workdir} does not exist on this node`);
  }
}

export function spawnSettings(t: TaskTemplate): SpawnSettings {
  const out: SpawnSettings = {};
  if (t.workdir) out.cwd = t.workdir;
  const m = t.user ? /^(\d+)(?::(\d+))?$/.exec(t.user) : null;
  if (m?.[1]) out.uid = Number(m[1]);
  if (m?.[2]) out.gid = Number(m[2]);
  return out;
}

function isSet(v: unknown): boolean {
  if (v === undefined || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length > 0;
  return true;
}
