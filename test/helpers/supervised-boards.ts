// Boards that run the real agent bundle under its upgrade supervisor: releases made from the bundle, the processes of one board, a clean stop.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadState } from '../../agent/ota/ota-state-file.js';
import { FACTORY, type OtaState } from '../../agent/ota/ota-state.js';
import { REPO, stopProc } from './cluster.js';
import { killTasksOf } from './processes.js';

export const BUNDLE = path.join(REPO, 'dist', 'fleet-agent.mjs');

/** The agent bundle built again with another version on its version line; returns its path. */
export async function bundleRelease(dir: string, version: string): Promise<string> {
  const out = path.join(dir, `fleet-agent-${version}.mjs`);
  await promisify(execFile)(process.execPath, [
    path.join(REPO, 'bin', 'bundle-agent.js'),
    '--release-version',
    version,
    '--out',
    out,
  ]);
  return out;
}

export interface BoardSpec {
  /** The test's folder: the board's data dir and log go under it. */
  dir: string;
  name: string;
  /** Its loopback address (tasks and ingress bind there). */
  address: string;
  manager: string;
  token: string;
  /** The bundle the board was installed with (its factory release). */
  bundle?: string;
  /** Runs node through this command (qemu-user for arm64): `[cmd, ...args]` before the bundle. */
  runner?: string[];
  monitor?: string;
  env?: NodeJS.ProcessEnv;
}

export const dataDirOf = (b: Pick<BoardSpec, 'dir' | 'name'>): string => path.join(b.dir, b.name);

/** Starts `fleet-agent.mjs agent start --supervise` for the board, logging to DIR/NAME.log. */
export function startSupervised(b: BoardSpec): ChildProcess {
  const args = [b.bundle ?? BUNDLE, 'agent', 'start', '--supervise'];
  args.push('--data-dir', dataDirOf(b), '--advertise-addr', b.address, '--name', b.name);
  args.push('--runtime', 'process', '--manager', b.manager, '--token', b.token);
  args.push('--upgrade-monitor', b.monitor ?? '30s');
  const [cmd = process.execPath, ...pre] = b.runner ?? [process.execPath];
  const fd = openSync(path.join(b.dir, `${b.name}.log`), 'a');
  const proc = spawn(cmd, [...pre, ...args], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...b.env },
    cwd: b.dir,
  });
  closeSync(fd);
  return proc;
}

/** The board's upgrade state as its supervisor would read it. */
export function boardState(b: Pick<BoardSpec, 'dir' | 'name'>): OtaState {
  return loadState(dataDirOf(b)).state;
}

/** The version the board's state says it runs (the factory release's is given). */
export function committedVersion(state: OtaState, factoryVersion: string): string {
  return state.current === FACTORY ? factoryVersion : state.current;
}

/** Live agent processes (not supervisors) started for this data dir, from /proc. */
export function agentPids(dataDir: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let argv: string[];
    try {
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')) continue;
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = argv.indexOf('--data-dir');
    if (at >= 0 && argv[at + 1] === dataDir && !argv.includes('--supervise')) out.push(Number(pid));
  }
  return out;
}

/** Whether the process is stopped (SIGSTOP): state T in /proc. */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'T';
  } catch {
    return false;
  }
}

export function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** Stops the supervisor (its agent with it), then anything of the board still alive, tasks included. */
export async function stopBoard(b: BoardSpec, sup: ChildProcess | undefined): Promise<void> {
  if (sup) await stopProc(sup);
  for (const pid of agentPids(dataDirOf(b))) killQuietly(pid);
  await killTasksOf(b.address);
}
