// Board images for tests: `fleet os build` run for real (mmdebstrap under qemu-user) with a cache kept between test files, and what a qemu-arm64 image must hold.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { aarch64ElfProblem } from '../../firmware-images/node-binary.js';
import { SECTOR } from '../../firmware-images/layout.js';
import { readPartitionTable } from '../../firmware-images/mbr.js';
import { FLEET, REPO } from './cluster.js';

const run = promisify(execFile);
export const TOOLS_ENV = {
  ...process.env,
  MTOOLS_SKIP_CHECK: '1',
  PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
};
const AGENT = path.join(REPO, 'dist', 'fleet-agent.mjs');
/** Kept between test files and runs: the root file systems and the downloaded packages. */
export const OS_CACHE = path.join(os.tmpdir(), 'fleet-os-build-cache');

/** Why `fleet os build` cannot run here, or null. */
export function osBuildMissing(): string | null {
  if (spawnSync('mmdebstrap', ['--version']).status !== 0) {
    return 'mmdebstrap is not installed (apt-get install mmdebstrap)';
  }
  if (process.getuid?.() !== 0) return 'os build needs root';
  return null;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `fleet ARGS` with the tools' directories on PATH; never throws. */
export async function fleetCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  try {
    const r = await run(process.execPath, [FLEET, ...args], {
      env: { ...TOOLS_ENV, ...env },
      maxBuffer: 1 << 24,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export const tool = async (cmd: string, args: string[]): Promise<string> =>
  (await run(cmd, args, { env: TOOLS_ENV, maxBuffer: 1 << 26 })).stdout;

/** Builds `out` for `board`; fails the test with fleet's error output. */
export async function buildBoardImage(
  board: string,
  runtime: 'docker' | 'process',
  out: string,
  extra: string[] = [],
): Promise<{ summary: string }> {
  const r = await fleetCli([
    ...['os', 'build', '--board', board, '--runtime', runtime, '--out', out],
    ...['--cache-dir', OS_CACHE, ...extra],
  ]);
  assert.equal(r.code, 0, `os build failed:\n${r.stderr}`);
  await assert.rejects(fs.stat(`${out}.partial`), { code: 'ENOENT' });
  return { summary: r.stdout.trim() };
}

/** The two partitions' file-system addresses for mtools (FAT) and debugfs (ext4). */
export async function partitionsOf(image: string): Promise<{ boot: string; root: string }> {
  const [boot, root] = await readPartitionTable(image);
  assert.ok(boot && root, 'two partitions');
  assert.deepEqual([boot.type, root.type], [0x0c, 0x83]);
  return {
    boot: `${image}@@${boot.start * SECTOR}`,
    root: `${image}?offset=${root.start * SECTOR}`,
  };
}

/**
 * What a qemu-arm64 process-runtime image holds: kernel, initramfs and command line on the
 * boot partition; arm64 Node.js, the agent, its enabled units and fstab in the root; no Docker.
 */
export async function inspectQemuImage(image: string, scratch: string): Promise<void> {
  const { boot, root } = await partitionsOf(image);
  const listing = await tool('mdir', ['-b', '-i', boot, '::/']);
  for (const f of ['vmlinuz', 'initrd.img', 'cmdline.txt']) {
    assert.match(listing, new RegExp(`::/${f}\\b`), f);
  }
  const debugfs = (req: string): Promise<string> => tool('debugfs', ['-R', req, root]);
  const nodeCopy = path.join(scratch, 'node');
  await debugfs(`dump /usr/local/bin/node ${nodeCopy}`);
  assert.equal(aarch64ElfProblem(readFileSync(nodeCopy).subarray(0, 64)), null);
  await fs.rm(nodeCopy);
  const agentCopy = path.join(scratch, 'agent.mjs');
  await debugfs(`dump /usr/local/lib/fleet/fleet-agent.mjs ${agentCopy}`);
  assert.equal(sha256(readFileSync(agentCopy)), sha256(readFileSync(AGENT)));
  const unit = await debugfs('cat /etc/systemd/system/fleet-agent.service');
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/bin\/node .*--config \/boot\/firmware\/fleet\.json/m,
  );
  const link = await debugfs(
    'stat /etc/systemd/system/multi-user.target.wants/fleet-agent.service',
  );
  assert.match(link, /Type: symlink/);
  const setupLink = await debugfs(
    'stat /etc/systemd/system/sysinit.target.wants/fleet-board-setup.service',
  );
  assert.match(setupLink, /Type: symlink/);
  assert.match(
    await debugfs('cat /etc/systemd/system/fleet-board-setup.service'),
    /^ExecStart=\/usr\/local\/bin\/node .*fleet-agent\.mjs board setup --config /m,
  );
  // openssh-server is there, without host keys: each board makes its own at boot.
  const sshDir = await debugfs('ls /etc/ssh');
  assert.match(sshDir, /\bsshd_config\b/);
  assert.doesNotMatch(sshDir, /ssh_host_/);
  assert.match(await debugfs('cat /etc/fstab'), /^LABEL=fleetroot +\/ +ext4/m);
  assert.match(await debugfs('ls /usr/sbin'), /\binit\b/);
  for (const d of ['/usr/bin', '/usr/sbin']) {
    assert.doesNotMatch(await debugfs(`ls ${d}`), /\bdockerd\b/);
  }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The names in a "newc" cpio archive (an initramfs), read without cpio. */
export function cpioNames(archive: Buffer): string[] {
  const names: string[] = [];
  const pad4 = (n: number): number => (n + 3) & ~3;
  let at = 0;
  while (at + 110 <= archive.length) {
    const magic = archive.toString('latin1', at, at + 6);
    if (magic !== '070701' && magic !== '070702') break;
    const field = (i: number): number =>
      parseInt(archive.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const size = field(6);
    const nameSize = field(11);
    const name = archive.toString('utf8', at + 110, at + 110 + nameSize - 1);
    if (name === 'TRAILER!!!') break;
    names.push(name);
    at = pad4(pad4(at + 110 + nameSize) + size);
  }
  return names;
}
