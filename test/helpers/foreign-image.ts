// A tiny image whose program is built for another CPU than this machine's: Debian's static busybox for that architecture.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The Debian architecture used: s390x, which no fleet board or build machine is. Not arm64,
 * whose emulator the board-image build needs while this test runs beside it.
 */
export const FOREIGN_ARCH = 's390x';
export const FOREIGN_IMAGE = `fleet-test/foreign-${FOREIGN_ARCH}:1`;

const QEMU = { s390x: 'qemu-s390x' } as const;

/**
 * Makes sure the foreign program cannot run here for the length of a test: an emulator
 * registered for its architecture (binfmt_misc, as qemu-user-static registers them) is turned
 * off, and `restore` turns it on again. `why` says why it could not be turned off.
 */
export async function foreignCannotRun(): Promise<
  { restore: () => Promise<void> } | { why: string }
> {
  const handler = `/proc/sys/fs/binfmt_misc/${QEMU[FOREIGN_ARCH]}`;
  if (!existsSync(handler)) return { restore: () => Promise.resolve() };
  const status = await fs.readFile(handler, 'utf8').catch(() => '');
  if (!status.startsWith('enabled')) return { restore: () => Promise.resolve() };
  try {
    await fs.writeFile(handler, '0');
  } catch (e) {
    return {
      why: `${handler} is registered, so ${FOREIGN_ARCH} programs run here, and it cannot be turned off: ${String(e)}`,
    };
  }
  return { restore: () => fs.writeFile(handler, '1').catch(() => undefined) };
}

/**
 * Builds FOREIGN_IMAGE unless present: `apt-get download busybox-static:<arch>` (the
 * architecture must be added with `dpkg --add-architecture`), extracted and imported with
 * /bin/sh as its entrypoint.
 */
export async function ensureForeignImage(): Promise<string> {
  try {
    await run('docker', ['image', 'inspect', FOREIGN_IMAGE]);
    return FOREIGN_IMAGE;
  } catch {
    // built below
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-foreign-'));
  try {
    try {
      await run('apt-get', ['download', `busybox-static:${FOREIGN_ARCH}`], { cwd: dir });
    } catch (e) {
      throw new Error(
        `apt-get download busybox-static:${FOREIGN_ARCH} failed (add the architecture with ` +
          `dpkg --add-architecture ${FOREIGN_ARCH} && apt-get update): ${String(e)}`,
      );
    }
    const deb = (await fs.readdir(dir)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download left no .deb');
    await run('dpkg-deb', ['-x', path.join(dir, deb), path.join(dir, 'pkg')]);
    const root = path.join(dir, 'root');
    await fs.mkdir(path.join(root, 'bin'), { recursive: true });
    await fs.copyFile(path.join(dir, 'pkg/bin/busybox'), path.join(root, 'bin/busybox'));
    await fs.chmod(path.join(root, 'bin/busybox'), 0o755);
    await fs.symlink('busybox', path.join(root, 'bin/sh'));
    await run('sh', [
      '-c',
      `tar -C "${root}" --numeric-owner -c . | docker import ` +
        `--change 'ENTRYPOINT ["/bin/sh"]' - ${FOREIGN_IMAGE}`,
    ]);
    return FOREIGN_IMAGE;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
