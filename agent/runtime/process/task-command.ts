// What a task runs as a process: its command, its executable found on PATH, its environment, its spawn and its exit code.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, promises as fs, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AssignedTask } from '../../../shared/protocol.js';
import type { HostPort } from '../../../shared/spec.js';
import { TaskRejectedError } from '../types.js';
import { TASK_ENV } from './liveness.js';

export function commandOf(task: AssignedTask): [string, ...string[]] {
  // A process has no image entrypoint: --entrypoint, when given, comes before the command.
  const [exe, ...args] = [...(task.template.entrypoint ?? []), ...task.template.command];
  if (exe === undefined || exe === '') {
    throw new TaskRejectedError('the process runtime needs a command');
  }
  return [exe, ...args];
}

/** Like a shell signal exit: 128 + signal number, as Docker reports a killed container. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  const n = signal ? os.constants.signals[signal] : undefined;
  return n === undefined ? null : 128 + n;
}

export function envPath(task: AssignedTask): string {
  return task.template.env.PATH ?? process.env.PATH ?? '';
}

export function buildEnv(
  task: AssignedTask,
  hostIp: string,
  hostPorts: HostPort[],
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  Object.assign(env, task.template.env);
  // Set last: the process must listen where fleet says the port is.
  env.FLEET_HOST_IP = hostIp;
  env[TASK_ENV] = task.id;
  const first = hostPorts[0];
  if (first) env.PORT = String(first.hostPort);
  for (const p of hostPorts) env[`FLEET_PORT_${p.target}`] = String(p.hostPort);
  return env;
}

export async function resolveExecutable(exe: string, pathVar: string): Promise<string | null> {
  const candidates = exe.includes('/')
    ? [path.resolve(exe)]
    : pathVar
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, exe));
  for (const file of candidates) {
    try {
      await fs.access(file, fsConstants.X_OK);
      if ((await fs.stat(file)).isFile()) return file;
    } catch {
      // not here; try the next directory
    }
  }
  return null;
}

/** Spawns a process in its own group (so it outlives the agent) with its output appended to logFile. */
export function spawnDetached(
  exe: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  settings: { cwd?: string; uid?: number; gid?: number } = {},
): ChildProcess {
  const logFd = openSync(logFile, 'a');
  try {
    return spawn(exe, args, { ...settings, detached: true, stdio: ['ignore', logFd, logFd], env });
  } finally {
    closeSync(logFd); // the child holds its own copy of the descriptor
  }
}
