// The initramfs settings of a board: only the modules its root device needs (MODULES=list), set up before the kernel is installed.

import type { Board } from './board.js';

/** Where initramfs-tools reads fleet's settings and hook in the root file system. */
export const INITRAMFS_CONF = '/etc/initramfs-tools/conf.d/fleet-board.conf';
export const INITRAMFS_HOOK = '/etc/initramfs-tools/hooks/fleet-board';

/**
 * initramfs-tools' settings. Debian's default (MODULES=most) copies every storage and file
 * system driver, which under qemu-user takes longer than all the rest of the build; a list
 * of what the board boots from makes the initramfs in seconds and a few MB. gzip, because
 * every kernel and boot loader reads it.
 */
export const initramfsConf = (): string => 'MODULES=list\nCOMPRESS=gzip\n';

/**
 * The hook that adds the board's modules. udev in the initramfs loads the ones the hardware
 * asks for, and the root file system's driver is loaded by name when it is mounted.
 */
export function initramfsHook(board: Board): string {
  return [
    '#!/bin/sh',
    '# The kernel modules a fleet board needs to find and mount its root file system.',
    'case "$1" in prereqs) exit 0 ;; esac',
    '. /usr/share/initramfs-tools/hook-functions',
    `manual_add_modules ${board.initramfsModules.join(' ')}`,
    '',
  ].join('\n');
}

/**
 * mmdebstrap's setup hook (run on the empty tree "$1", before any package is installed): the
 * settings and the hook are in place when the kernel's package makes its initramfs.
 */
export function initramfsSetupHook(board: Board): string {
  const quote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;
  return [
    'set -e',
    'mkdir -p "$1"/etc/initramfs-tools/conf.d "$1"/etc/initramfs-tools/hooks',
    `printf '%s' ${quote(initramfsConf())} > "$1"${INITRAMFS_CONF}`,
    `printf '%s' ${quote(initramfsHook(board))} > "$1"${INITRAMFS_HOOK}`,
    `chmod 755 "$1"${INITRAMFS_HOOK}`,
  ].join('\n');
}
