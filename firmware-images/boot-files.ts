// Fills the boot partition's directory from an unpacked root file system: firmware, device trees, kernel, initramfs, templates.
import { copyFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BOARD_SETTINGS_FILE } from '../shared/board-settings.js';
import { bootTexts, type Board } from './board.js';
import { ROOT_LABEL } from './root-files.js';
import { ImageStepError } from './tools.js';

/** The names the kernel and initramfs get on the boot partition (config.txt's kernel= and initramfs). */
export const KERNEL_FILE = 'vmlinuz';
export const INITRD_FILE = 'initrd.img';

/** Where each kind of boot file comes from in the root file system. */
export type BootSource =
  | { kind: 'template' }
  | { kind: 'kernel' }
  | { kind: 'initrd' }
  | { kind: 'dtb' }
  | { kind: 'firmware' };

/** Which source a profile's boot file is taken from, by its name. */
export function bootSourceOf(name: string): BootSource {
  if (name === 'config.txt' || name === 'cmdline.txt') return { kind: 'template' };
  if (name === KERNEL_FILE) return { kind: 'kernel' };
  if (name === INITRD_FILE) return { kind: 'initrd' };
  if (name.endsWith('.dtb')) return { kind: 'dtb' };
  return { kind: 'firmware' };
}

/** The one kernel version in the root file system (from /boot/vmlinuz-VERSION). */
export async function kernelVersion(rootDir: string): Promise<string> {
  const kernels = (await readdir(path.join(rootDir, 'boot'))).filter((n) =>
    n.startsWith('vmlinuz-'),
  );
  const [only, ...more] = kernels;
  if (only === undefined || more.length > 0) {
    throw new ImageStepError(
      'finding the kernel',
      `expected one /boot/vmlinuz-* in the root file system, found ${kernels.length}`,
    );
  }
  return only.slice('vmlinuz-'.length);
}

/**
 * Writes the board's boot files into `bootDir`, each from where it lives in `rootDir`
 * (raspi-firmware's /usr/lib/raspi-firmware, the kernel package's device trees), the
 * templates filled in, and fleet.json when settings were given.
 */
export async function collectBootFiles(
  board: Board,
  rootDir: string,
  bootDir: string,
  settingsJson?: string,
): Promise<void> {
  const version = await kernelVersion(rootDir);
  const texts = bootTexts(board, {
    root: `LABEL=${ROOT_LABEL}`,
    kernel: KERNEL_FILE,
    initrd: INITRD_FILE,
  });
  const from: Record<BootSource['kind'], (name: string) => string> = {
    template: () => '',
    kernel: () => path.join(rootDir, 'boot', `vmlinuz-${version}`),
    initrd: () => path.join(rootDir, 'boot', `initrd.img-${version}`),
    dtb: (n) => path.join(rootDir, 'usr', 'lib', `linux-image-${version}`, 'broadcom', n),
    firmware: (n) => path.join(rootDir, 'usr', 'lib', 'raspi-firmware', n),
  };
  for (const name of board.bootFiles) {
    const target = path.join(bootDir, name);
    const kind = bootSourceOf(name).kind;
    if (kind === 'template') {
      const text = texts.get(name);
      if (text === undefined) {
        throw new ImageStepError('writing the boot files', `${board.name} has no ${name} template`);
      }
      await writeFile(target, text);
      continue;
    }
    const source = from[kind](name);
    await copyFile(source, target).catch((e: NodeJS.ErrnoException) => {
      throw new ImageStepError(
        'collecting the boot files',
        `${name}: ${e.code === 'ENOENT' ? `${source.slice(rootDir.length)} is not in the root file system` : e.message}`,
      );
    });
  }
  if (settingsJson !== undefined) {
    await writeFile(path.join(bootDir, BOARD_SETTINGS_FILE), settingsJson, { mode: 0o600 });
  }
}
