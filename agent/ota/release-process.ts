// One agent release running as the supervisor's child: spawn with an IPC channel, stop, wait, leftovers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../shared/clock.js';
import { childMessageSchema, type ChildMessage, type SupervisorMessage } from './ipc.js';
import { otaDir } from './ota-state-file.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  bundle: string;
  nodeFlags: string[];
  /** What follows the bundle on the command line (`agent start ...`). */
  args: string[];
  env: NodeJS.ProcessEnv;
  onMessage: (m: ChildMessage) => void;
  onBadMessage: (why: string) => void;
  onExit: (e: Exit) => void;
}

export class ReleaseProcess {
  readonly exited: Promise<Exit>;
  private readonly child: ChildProcess;
  private gone = false;

  constructor(o: SpawnOptions) {
    this.child = spawn(process.execPath, [...o.nodeFlags, o.bundle, ...o.args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: o.env,
    });
    this.child.on('message', (raw: unknown) => {
      const m = childMessageSchema.safeParse(raw);
      if (m.success) o.onMessage(m.data);
      else o.onBadMessage(m.error.issues[0]?.message ?? 'bad message');
    });
    this.exited = new Promise((resolve) => {
      const done = (e: Exit): void => {
        if (this.gone) return;
        this.gone = true;
        resolve(e);
        o.onExit(e);
      };
      this.child.on('exit', (code, signal) => done({ code, signal }));
      // A bundle that cannot be executed at all (node missing): the same as dying at start.
      this.child.on('error', () => done({ code: 127, signal: null }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(m: SupervisorMessage): void {
    if (!this.child.connected) return;
    try {
      this.child.send(m);
    } catch {
      // The channel closed between the check and the send: the exit event follows.
    }
  }

  /** Sends `signal`, and SIGKILL if the process is still there after graceMs (Infinity: never); resolves on exit. */
  async stop(signal: NodeJS.Signals, graceMs: number, clock: Clock): Promise<Exit> {
    if (!this.gone) this.child.kill(signal);
    const timer = Number.isFinite(graceMs)
      ? clock.setTimeout(() => {
          if (!this.gone) this.child.kill('SIGKILL');
        }, graceMs)
      : undefined;
    const e = await this.exited;
    if (timer) clock.clearTimeout(timer);
    return e;
  }
}

/** Describes an exit in the words of a failure reason. */
export function describeExit(e: Exit): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code ?? 'unknown'}`;
}

const pidFile = (dataDir: string): string => path.join(otaDir(dataDir), 'child.pid');

/** Remembers the running child, so a supervisor that was killed can stop it when it comes back. */
export function recordChild(dataDir: string, pid: number | undefined, bundle: string): void {
  if (pid === undefined) return;
  mkdirSync(otaDir(dataDir), { recursive: true, mode: 0o700 });
  writeFileSync(pidFile(dataDir), JSON.stringify({ pid, bundle }) + '\n', { mode: 0o600 });
}

/**
 * The child a killed supervisor left running, if it is still alive and still the same program
 * (its command line names the bundle: a pid reused by anything else is left alone).
 */
export function leftoverChild(dataDir: string): number | undefined {
  let rec: { pid?: unknown; bundle?: unknown };
  try {
    rec = JSON.parse(readFileSync(pidFile(dataDir), 'utf8')) as typeof rec;
  } catch {
    return undefined;
  }
  rmSync(pidFile(dataDir), { force: true });
  if (typeof rec.pid !== 'number' || typeof rec.bundle !== 'string') return undefined;
  try {
    const cmdline = readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(rec.bundle) ? rec.pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a process that is not our child: `signal`, then SIGKILL after graceMs; waits until gone. */
export async function stopLeftover(pid: number, graceMs: number, clock: Clock): Promise<void> {
  const deadline = clock.now() + graceMs;
  signalQuietly(pid, 'SIGTERM');
  while (isAlive(pid)) {
    if (clock.now() >= deadline) signalQuietly(pid, 'SIGKILL');
    await clock.sleep(20);
  }
}

/** Whether the process exists and is not a zombie waiting for whoever adopted it to reap it. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
