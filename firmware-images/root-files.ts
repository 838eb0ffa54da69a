// The files fleet adds to a board's root file system: the agent's systemd unit, fstab, and where things live.
import { BOARD_SETTINGS_FILE } from '../shared/board-settings.js';
import type { Runtime } from './rootfs.js';

export const BOOT_LABEL = 'FLEETBOOT';
export const ROOT_LABEL = 'fleetroot';
/** Where the FAT boot partition is mounted, as on Debian's and Raspberry Pi OS's images. */
export const BOOT_MOUNT = '/boot/firmware';
export const NODE_PATH = '/usr/local/bin/node';
export const AGENT_PATH = '/usr/local/lib/fleet/fleet-agent.mjs';
export const AGENT_DATA_DIR = '/var/lib/fleet-agent';
export const AGENT_UNIT = 'fleet-agent.service';

/** The Node.js flags in the bundle's `#!/usr/bin/env -S node FLAGS` line, so the unit runs it the same way. */
export function nodeFlagsFromShebang(firstLine: string): string[] {
  const m = /^#!\S*env -S node((?: +-[^\s]+)*)\s*$/.exec(firstLine);
  return m?.[1] === undefined ? [] : m[1].trim().split(/ +/).filter(Boolean);
}

/**
 * The agent's unit. It is ordered after the local file systems only and wants, without
 * waiting for, network-online: a board without a network still starts its last tasks.
 * `--config` names the boot partition's fleet.json (the agent's first-boot handling of it is
 * still to come). Docker boards start it after dockerd.
 */
export function agentUnit(runtime: Runtime, nodeFlags: readonly string[] = []): string {
  const exec = [
    NODE_PATH,
    ...nodeFlags,
    AGENT_PATH,
    'agent',
    'start',
    '--config',
    `${BOOT_MOUNT}/${BOARD_SETTINGS_FILE}`,
    '--data-dir',
    AGENT_DATA_DIR,
    '--runtime',
    runtime,
  ].join(' ');
  const docker = runtime === 'docker' ? ['After=docker.service', 'Wants=docker.service'] : [];
  return [
    '[Unit]',
    'Description=fleet agent',
    'After=local-fs.target',
    'Wants=network-online.target',
    ...docker,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * fstab by file-system label, the labels the assembler gives the partitions. The boot
 * partition holds the join token, so only root may read it; `nofail` lets a board with a
 * damaged boot partition still start the agent from its stored identity.
 */
export function fstab(): string {
  return [
    '# <file system>  <mount point>  <type>  <options>  <dump>  <pass>',
    `LABEL=${ROOT_LABEL}  /  ext4  defaults,noatime  0  1`,
    `LABEL=${BOOT_LABEL}  ${BOOT_MOUNT}  vfat  defaults,noatime,fmask=0077,dmask=0077,nofail  0  2`,
    '',
  ].join('\n');
}
