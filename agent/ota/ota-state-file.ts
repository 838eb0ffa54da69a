// state.json of the A/B upgrades, read validated and written crash-safely (temp, fsync, rename, fsync dir).
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { initialState, otaStateSchema, type OtaState } from './ota-state.js';

/** Named points of a save, where a crash test may stop the process (see SaveHooks). */
export type SavePoint = 'state-written' | 'state-renamed';
/** Called synchronously at each point of a save; tests kill the process there. */
export type SaveHook = (point: SavePoint) => void;

/** DATA_DIR/ota: state.json and releases/<version>/. */
export const otaDir = (dataDir: string): string => path.join(dataDir, 'ota');
export const stateFile = (dataDir: string): string => path.join(otaDir(dataDir), 'state.json');

export type LoadedState = { state: OtaState; damaged?: string };

/**
 * Reads the state; none yet is the initial state (the factory release). A file that does not
 * parse cannot come from an atomic write, but a damaged card could produce one: the board then
 * runs the factory release and says why, rather than refusing to start an agent at all.
 */
export function loadState(dataDir: string): LoadedState {
  const file = stateFile(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: initialState() };
    throw e;
  }
  try {
    return { state: otaStateSchema.parse(JSON.parse(text)) };
  } catch (e) {
    return { state: initialState(), damaged: `${file} is damaged: ${String(e).slice(0, 200)}` };
  }
}

/** Writes the state so that a crash at any instant leaves either the old or the new one. */
export function saveState(dataDir: string, state: OtaState, hook?: SaveHook): void {
  const file = stateFile(dataDir);
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.state.json.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = Buffer.from(JSON.stringify(otaStateSchema.parse(state), null, 2) + '\n');
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  hook?.('state-written');
  renameSync(tmp, file);
  hook?.('state-renamed');
  syncDir(dir);
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the temp files of saves a crash interrupted. Only the one writer (the supervisor, at
 * its start) may call it: a reader doing so could delete the temp file of a save under way.
 */
export function removeStaleStateTemps(dataDir: string): void {
  const dir = otaDir(dataDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names)
    if (n.startsWith('.state.json.') && n.endsWith('.tmp'))
      rmSync(path.join(dir, n), { force: true });
}
