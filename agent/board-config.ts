// A flashed board's settings file (fleet.json on its boot partition) as agent start options, and the token removed once used.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  formatBoardSettings,
  parseBoardSettings,
  type BoardSettings,
} from '../shared/board-settings.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { errorMessage } from '../shared/errors.js';

/** What the settings file contributes to `agent start`; flags given on the command line win. */
export interface BoardStart {
  managers: string[];
  token?: string;
  name: string;
  labels: Record<string, string>;
}

/** Facts about the board a hostname pattern may use. */
export interface BoardFacts {
  serial: string;
  mac: string;
}

export async function readBoardSettings(file: string): Promise<BoardSettings> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the board settings ${file}: ${errorMessage(e)}`);
  }
  try {
    return parseBoardSettings(text);
  } catch (e) {
    throw new Error(`${file}: ${errorMessage(e)}`);
  }
}

/** The start options the settings give: managers, token, node name from the pattern, labels. */
export function boardStart(settings: BoardSettings, facts: BoardFacts): BoardStart {
  return {
    managers: settings.managers,
    ...(settings.token ? { token: settings.token } : {}),
    name: renderBoardName(settings.hostname ?? 'fleet-{serial}', facts),
    labels: settings.labels,
  };
}

/** A hostname pattern filled in: {serial} and {mac} replaced, cut to a valid host name. */
export function renderBoardName(pattern: string, facts: BoardFacts): string {
  const name = pattern
    .replaceAll('{serial}', facts.serial)
    .replaceAll('{mac}', facts.mac)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  return (name || 'fleet-board').slice(0, 63);
}

/**
 * The MAC address of the lowest-named physical network interface (one with a `device` in
 * sysfs): it is there before any address is, so board setup at early boot and the agent later
 * see the same one, and bridges (docker0, the agent's own) and veths are never taken.
 */
export async function physicalMac(root = '/'): Promise<string> {
  const dir = path.join(root, 'sys/class/net');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names.sort((a, b) => a.localeCompare(b))) {
    const device = await fs.stat(path.join(dir, name, 'device')).catch(() => null);
    if (!device) continue;
    const mac = await fs.readFile(path.join(dir, name, 'address'), 'utf8').catch(() => '');
    const m = mac.trim().toLowerCase();
    if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m) && m !== '00:00:00:00:00:00') return m;
  }
  return '';
}

/**
 * The board's serial number (a Pi's device tree has one) or, failing that, the start of its
 * machine id; and its first MAC address: of a physical interface (see physicalMac), else of
 * the lowest-named interface that has an address and is not loopback.
 */
export async function boardFacts(root = '/'): Promise<BoardFacts> {
  const read = (p: string) =>
    fs.readFile(path.join(root, p), 'utf8').then(
      (t) => t.replace(/\0/g, '').trim(),
      () => '',
    );
  const serial =
    (await read('sys/firmware/devicetree/base/serial-number')).replace(/^0+/, '') ||
    (await read('etc/machine-id')).slice(0, 12) ||
    os.hostname();
  const nics = Object.entries(os.networkInterfaces())
    .filter(([, addrs]) => addrs?.some((a) => !a.internal && a.mac !== '00:00:00:00:00:00'))
    .sort(([a], [b]) => a.localeCompare(b));
  const mac = (await physicalMac(root)) || (nics[0]?.[1]?.find((a) => !a.internal)?.mac ?? '');
  return { serial: serial.slice(-16), mac: mac.replace(/:/g, '') };
}

/**
 * Removes the join token from the settings file once the node holds its own identity, so the
 * boot partition (readable on any laptop) no longer carries it. The file is replaced whole.
 */
export async function forgetBoardToken(file: string, settings: BoardSettings): Promise<boolean> {
  if (!settings.token) return false;
  const { token: _used, ...rest } = settings;
  void _used;
  // On the FAT boot partition the mode is the mount's (root only, see fstab).
  await writeFileAtomic(file, formatBoardSettings(rest), 0o600);
  return true;
}
