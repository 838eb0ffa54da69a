// The files fleet adds to a board's root file system: the agent's and board setup's systemd units, fstab, and where things live.
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
export const BOARD_SETUP_UNIT = 'fleet-board-setup.service';
/** The target whose .wants directory enables board setup (see boardSetupUnit). */
export const BOARD_SETUP_TARGET = 'sysinit.target';

/** The Node.js flags in the bundle's `#!/usr/bin/env -S node FLAGS` line, so the unit runs it the same way. */
export function nodeFlagsFromShebang(firstLine: string): string[] {
  const m = /^#!\S*env -S node((?: +-[^\s]+)*)\s*$/.exec(firstLine);
  return m?.[1] === undefined ? [] : m[1].trim().split(/ +/).filter(Boolean);
}

/**
 * The agent's unit. It is ordered after the local file systems only and wants, without
 * waiting for, network-online: a board without a network still starts its last tasks.
 * `--config` names the boot partition's fleet.json. It starts after board setup (which names
 * the host as the agent names the node), and wants it without requiring it. Docker boards
 * start it after dockerd. `--supervise` runs the agent under the upgrade supervisor (agent/ota),
 * which switches to new agent releases and goes back when they fail.
 */
export function agentUnit(runtime: Runtime, nodeFlags: readonly string[] = []): string {
  const exec = [
    NODE_PATH,
    ...nodeFlags,
    AGENT_PATH,
    'agent',
    'start',
    '--supervise',
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
    `After=${BOARD_SETUP_UNIT}`,
    'Wants=network-online.target',
    `Wants=${BOARD_SETUP_UNIT}`,
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
 * Board setup (`fleet-agent board setup`): grows the root partition, names the host, makes
 * SSH host keys, writes the Wi-Fi and time zone files, on every boot, from fleet.json.
 *
 * It must finish before systemd-networkd reads its .network files and wpa_supplicant its
 * configuration (named, since Debian's wpa_supplicant@.service is not after network-pre), and before sshd looks for host keys, so it opts out of the default
 * dependencies (which would order it after basic.target, too late) and is ordered only after
 * the local file systems and the boot partition's mount (`nofail` there keeps local-fs.target
 * from waiting for it, hence RequiresMountsFor). It is wanted by sysinit.target rather than
 * multi-user.target so it starts at the beginning of boot, in parallel with the rest of
 * sysinit, but it is not ordered before sysinit.target: a first boot's partition growth and
 * key generation then delay only the network, sshd and the agent. Before=network-pre.target
 * (which it pulls in) holds every network service back until it is done.
 */
export function boardSetupUnit(nodeFlags: readonly string[] = []): string {
  const exec = [
    NODE_PATH,
    ...nodeFlags,
    AGENT_PATH,
    'board',
    'setup',
    '--config',
    `${BOOT_MOUNT}/${BOARD_SETTINGS_FILE}`,
  ].join(' ');
  return [
    '[Unit]',
    'Description=fleet board setup (root partition, host name, SSH, Wi-Fi, time zone)',
    'DefaultDependencies=no',
    'After=local-fs.target',
    `RequiresMountsFor=${BOOT_MOUNT}`,
    `Before=network-pre.target systemd-networkd.service ssh.service ${AGENT_UNIT}`,
    // wpa_supplicant@.service is ordered before network.target only, not after network-pre.
    'Before=wpa_supplicant@wlan0.service',
    'Wants=network-pre.target',
    'Conflicts=shutdown.target',
    'Before=shutdown.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=${exec}`,
    'StandardOutput=journal+console',
    'StandardError=journal+console',
    // Growing a large card's file system and making an RSA key on a Pi 3 take a while.
    'TimeoutStartSec=10min',
    '',
    '[Install]',
    `WantedBy=${BOARD_SETUP_TARGET}`,
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
