// A board for upgrade tests: a data dir with a root key, fake agent releases, and the real supervisor process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  generateNodeKeys,
  generateSigningKey,
  issueCertificate,
  type Identity,
  type KeyPair,
} from '../../shared/identity.js';
import { signRelease } from '../../shared/ota/release.js';
import { stageRelease } from '../../agent/ota/stage.js';
import { loadState } from '../../agent/ota/ota-state-file.js';
import type { OtaState } from '../../agent/ota/ota-state.js';
import type { SupervisorPoint } from '../../agent/ota/supervisor.js';

/** How a fake release behaves once started. */
export type Behaviour = 'healthy' | 'exit' | 'hang' | 'self-check-failed';

export interface Board {
  /** The test's folder: runs.log, healthy/, switch-to, and data/ (the agent's data dir). */
  dir: string;
  dataDir: string;
  root: KeyPair;
  factory: { bundle: string; version: string };
}

export interface Run {
  version: string;
  pid: number;
  at: number;
}

const ENTRY = fileURLToPath(new URL('./ota-supervisor-entry.js', import.meta.url));

/** A board whose factory release is a healthy fake of `version`. */
export function makeBoard(factoryVersion = '1.0.0'): Board {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-ota-board-'));
  const dataDir = path.join(dir, 'data');
  mkdirSync(path.join(dir, 'healthy'), { recursive: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const root = generateSigningKey();
  const keys = generateNodeKeys();
  const cert = issueCertificate(
    {
      id: 'board1',
      role: 'worker',
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      issuedAt: 0,
      expiresAt: 2 ** 40,
      serial: '1',
    },
    root,
  );
  const identity: Identity = {
    v: 1,
    id: 'board1',
    role: 'worker',
    keys,
    cert,
    rootPub: root.publicKey,
    managers: [],
  };
  writeFileSync(path.join(dataDir, 'identity.json'), JSON.stringify(identity));
  const bundle = path.join(dir, 'factory.mjs');
  writeFileSync(bundle, fakeRelease(dir, factoryVersion, 'healthy'));
  return { dir, dataDir, root, factory: { bundle, version: factoryVersion } };
}

/** Signs and stages a fake release of `version` that behaves as told. */
export async function stageFake(b: Board, version: string, behaviour: Behaviour): Promise<void> {
  const bytes = Buffer.from(fakeRelease(b.dir, version, behaviour));
  const manifest = {
    version,
    nodeMin: '20.0.0',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    createdAt: 0,
  };
  await stageRelease({
    dataDir: b.dataDir,
    rootPub: b.root.publicKey,
    release: signRelease(manifest, b.root.secretKey),
    bundle: { bytes },
    runningVersion: b.factory.version,
  });
}

/** The running healthy release takes this file and asks its supervisor to switch to `version`. */
export function requestSwitch(b: Board, version: string): void {
  writeFileSync(path.join(b.dir, 'switch-to'), version);
}

/**
 * Whether every switch asked for has been dealt with: switch-to was taken, and each release
 * that took it has its answer or is dead (once answered yes, the decision is in state.json).
 */
export function switchesAnswered(b: Board): boolean {
  const names = readdirSync(b.dir);
  if (names.includes('switch-to')) return false;
  return names
    .filter((n) => n.startsWith('switch-taken-'))
    .every((n) => {
      const pid = Number(n.slice('switch-taken-'.length));
      return names.includes(`switch-answered-${pid}`) || !alive(pid);
    });
}

/** The supervisor's answer to the switch the release `pid` asked for. */
export function switchAnswer(b: Board, pid: number): { ok: boolean; reason?: string } | undefined {
  try {
    return JSON.parse(readFileSync(path.join(b.dir, `switch-answered-${pid}`), 'utf8')) as {
      ok: boolean;
      reason?: string;
    };
  } catch {
    return undefined;
  }
}

export interface SupervisorProc {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

/** Starts the real supervisor (compiled) on the board; it kills itself at crashAt when given. */
export function startSupervisor(
  b: Board,
  o: { monitorMs: number; crashAt?: { point: SupervisorPoint; nth: number } },
): SupervisorProc {
  const config = { dataDir: b.dataDir, factory: b.factory, ...o };
  const proc = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, FLEET_OTA_TEST_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = once(proc, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { proc, exited, output };
}

export function readState(b: Board): OtaState {
  return loadState(b.dataDir).state;
}

/** Every release process started on the board, in order. */
export function runs(b: Board): Run[] {
  let text = '';
  try {
    text = readFileSync(path.join(b.dir, 'runs.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [version = '', pid = '0', at = '0'] = l.split(' ');
      return { version, pid: Number(pid), at: Number(at) };
    });
}

/** The version a process reported healthy as, and when; undefined if it never did. */
export function healthyReport(b: Board, pid: number): { version: string; at: number } | undefined {
  try {
    const [version = '', at = '0'] = readFileSync(
      path.join(b.dir, 'healthy', String(pid)),
      'utf8',
    ).split(' ');
    return { version, at: Number(at) };
  } catch {
    return undefined;
  }
}

/** The pid the supervisor recorded for the release it runs. */
export function recordedChild(b: Board): number | undefined {
  try {
    const rec = JSON.parse(readFileSync(path.join(b.dataDir, 'ota', 'child.pid'), 'utf8')) as {
      pid: number;
    };
    return rec.pid;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a killed orphan may wait for a reaper). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

export function killQuietly(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

/** Kills the supervisor and every release it started, and removes the board. */
export function destroyBoard(b: Board, sup?: SupervisorProc): void {
  killQuietly(sup?.proc.pid);
  for (const r of runs(b)) killQuietly(r.pid);
  rmSync(b.dir, { recursive: true, force: true });
}

/**
 * The text of a fake release: logs its start to runs.log; when healthy, writes healthy/<pid> and
 * says so over IPC, then takes switch-to if it appears and asks for that switch. It ignores the
 * supervisor going away (it trusts nothing of the new code to clean up after itself).
 */
export function fakeRelease(dir: string, version: string, behaviour: Behaviour): string {
  return `// fake agent release ${version} (${behaviour})
import fs from 'node:fs';
import path from 'node:path';
const DIR = ${JSON.stringify(dir)};
const VERSION = ${JSON.stringify(version)};
const BEHAVIOUR = ${JSON.stringify(behaviour)};
const send = (m, cb) => { if (process.connected) process.send(m, cb); };
fs.appendFileSync(path.join(DIR, 'runs.log'), VERSION + ' ' + process.pid + ' ' + Date.now() + '\\n');
process.on('SIGTERM', () => process.exit(0));
process.on('message', (m) => {
  if (m && m.type === 'switch-result')
    fs.writeFileSync(path.join(DIR, 'switch-answered-' + process.pid), JSON.stringify(m));
});
setInterval(() => {}, 1000);
if (BEHAVIOUR === 'exit') process.exit(3);
if (BEHAVIOUR === 'self-check-failed')
  send({ type: 'self-check-failed', reason: 'the task runtime does not answer' }, () => process.exit(1));
if (BEHAVIOUR === 'healthy')
  setTimeout(() => {
    fs.writeFileSync(path.join(DIR, 'healthy', String(process.pid)), VERSION + ' ' + Date.now());
    send({ type: 'healthy' });
    const taken = path.join(DIR, 'switch-taken-' + process.pid);
    const poll = setInterval(() => {
      try { fs.renameSync(path.join(DIR, 'switch-to'), taken); } catch { return; }
      clearInterval(poll);
      const to = fs.readFileSync(taken, 'utf8').trim();
      if (to !== VERSION) send({ type: 'switch', version: to });
    }, 20);
  }, 30);
`;
}
