// Processes by pid: liveness guarded against pid reuse, signals to whole process groups, and leftovers killed.
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';

/** Names a task's process in its environment, so one spawned but never recorded can be found. */
export const TASK_ENV = 'FLEET_TASK_ID';

/** Liveness by pid, guarded against pid reuse and zombies via /proc on Linux. */
export function pidAlive(pid: number, procStart: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (stat === null) return process.platform !== 'linux';
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return procStart === null || stat.start === procStart;
}

/**
 * Fields of /proc/<pid>/stat after the command name (which may itself hold spaces or ')').
 * Read synchronously: procfs is in memory, and the spawn path must not yield (see launch).
 */
export function procStat(pid: number): { state: string; start: string } | null {
  if (process.platform !== 'linux' || pid <= 0) return null;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); the start time is field 22.
  const state = fields[0];
  const start = fields[19];
  return state && start ? { state, start } : null;
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Not a group leader (or already gone): signal the process itself.
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Kills what is left of a task's process group once its leader is gone, as Docker does with a
 * container whose main process exits: stray children would otherwise hold ports untracked. The
 * kernel does not hand out a pid that is still some group's id, so this cannot hit a stranger
 * while any member is alive.
 */
export function killRemnants(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is already empty
  }
}

/**
 * The processes (Linux) other than this one whose environment `pick` accepts, each with that
 * environment's entries; the ones gone or not ours to read are passed over.
 */
async function processesByEnv(
  pick: (vars: string[]) => boolean,
): Promise<{ pid: number; vars: string[] }[]> {
  if (process.platform !== 'linux') return [];
  let pids: string[];
  try {
    pids = (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  const found: { pid: number; vars: string[] }[] = [];
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let vars: string[];
    try {
      vars = (await fs.readFile(`/proc/${pid}/environ`, 'latin1')).split('\0');
    } catch {
      continue; // gone, or not ours to read
    }
    if (pick(vars)) found.push({ pid: Number(pid), vars });
  }
  return found;
}

/** Kills the process groups (Linux) whose leader carries this task id but has no record. */
export async function killUnrecorded(taskId: string): Promise<void> {
  const marker = `${TASK_ENV}=${taskId}`;
  for (const { pid } of await processesByEnv((vars) => vars.includes(marker)))
    signalGroup(pid, 'SIGKILL');
}

/** Names the runtime (by its data dir) that spawned a task's process, in the process's environment. */
export const RUNTIME_ENV = 'FLEET_RUNTIME';

/** The value of RUNTIME_ENV for the runtime keeping its records in this data dir. */
export function runtimeMark(dataDir: string): string {
  return createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
}

/**
 * Kills the process groups (Linux) this runtime spawned whose task nothing tracks any more: an
 * agent killed between spawning a task and recording it, whose task was then removed while it
 * was down, would otherwise leave that process running for good. Returns the task ids ended.
 */
export async function killStrays(
  runtimeMark: string,
  tracked: (taskId: string) => boolean,
): Promise<string[]> {
  const mark = `${RUNTIME_ENV}=${runtimeMark}`;
  const ended: string[] = [];
  for (const { pid, vars } of await processesByEnv((v) => v.includes(mark))) {
    const taskId = vars.find((v) => v.startsWith(`${TASK_ENV}=`))?.slice(TASK_ENV.length + 1);
    if (taskId === undefined || tracked(taskId)) continue;
    signalGroup(pid, 'SIGKILL');
    ended.push(taskId);
  }
  return ended;
}
