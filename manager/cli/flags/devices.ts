// Access to the board (only on agents started with --allow-devices): --device, --privileged, capabilities, groups, sysctls and ulimits.
import type { DeviceSpec, UlimitSpec } from '../../../shared/spec.js';
import { invalid } from '../usage.js';
import { parseKeyValues } from './env-labels.js';
import { repeatable } from './values.js';

/** HOST[:CONTAINER[:PERMISSIONS]], as Docker's --device: /dev/i2c-1 or /dev/ttyUSB0:/dev/modem:rw. */
export function parseDevice(flag: string, text: string): DeviceSpec {
  const parts = text.split(':');
  const expected = 'HOST-PATH[:CONTAINER-PATH[:rwm]], e.g. /dev/i2c-1 or /dev/null:/dev/fake0';
  if (parts.length > 3) throw invalid(flag, text, expected);
  const [host = '', second, third] = parts;
  let container = host;
  let permissions = 'rwm';
  if (third !== undefined) {
    container = second ?? '';
    permissions = third;
  } else if (second !== undefined) {
    if (/^[rwm]{1,3}$/.test(second)) permissions = second;
    else container = second;
  }
  const absolute = (p: string): boolean => p.startsWith('/') && !p.split('/').includes('..');
  if (!absolute(host) || !absolute(container) || !/^[rwm]{1,3}$/.test(permissions))
    throw invalid(flag, text, expected);
  return { host, container, permissions };
}

/** NAME=SOFT[:HARD], as Docker's --ulimit: nofile=1024:2048; -1 is unlimited. */
export function parseUlimit(flag: string, text: string): UlimitSpec {
  const m = /^([a-z]{2,16})=(-?\d+)(?::(-?\d+))?$/.exec(text.trim());
  if (!m || !m[1] || !m[2]) throw invalid(flag, text, 'NAME=SOFT[:HARD], e.g. nofile=1024:2048');
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (hard !== -1 && (soft === -1 || soft > hard))
    throw invalid(flag, text, 'a soft limit no higher than the hard one');
  return { name: m[1], soft, hard };
}

/** Capability names as Docker takes them, upper case, with or without CAP_. */
export function capabilitiesFlag(flag: string, items: readonly string[]): string[] {
  return items.map((c) => {
    const name = c.trim().toUpperCase();
    if (!/^(CAP_)?[A-Z_]{2,32}$/.test(name))
      throw invalid(flag, c, 'a capability such as NET_ADMIN');
    return name;
  });
}

export function sysctlsFlag(flag: string, items: readonly string[]): Record<string, string> {
  const out = parseKeyValues(flag, items, true);
  for (const k of Object.keys(out))
    if (!/^[a-z0-9_.-]{1,128}$/.test(k))
      throw invalid(flag, k, 'a sysctl such as net.ipv4.ip_forward=1');
  return out;
}

const devicesNote = ' (needs an agent started with --allow-devices)';

export const deviceOption = (flag: string) =>
  ({
    ...repeatable,
    describe: `give the task a device HOST[:CONTAINER[:rwm]]${devicesNote}`,
    coerce: (v: string[]) => v.map((d) => parseDevice(flag, d)),
  }) as const;

export const deviceRmOption = {
  ...repeatable,
  describe: 'remove a device, by its host or container path',
} as const;

export const privilegedOption = {
  type: 'boolean',
  describe: `give the task every device and capability${devicesNote}`,
} as const;

export const capOption = (flag: 'cap-add' | 'cap-drop') =>
  ({
    ...repeatable,
    describe: `${flag === 'cap-add' ? 'add' : 'drop'} a Linux capability${devicesNote}`,
    coerce: (v: string[]) => capabilitiesFlag(flag, v),
  }) as const;

export const groupAddOption = {
  ...repeatable,
  describe: `run the task also in this group (name or number)${devicesNote}`,
  coerce: (v: string[]) => {
    for (const g of v)
      if (!/^[a-zA-Z0-9_.-]{1,64}$/.test(g))
        throw invalid('group-add', g, 'a group name or number');
    return v;
  },
} as const;

export const groupRmOption = { ...repeatable, describe: 'remove an added group' } as const;

export const sysctlOption = (flag: string) =>
  ({
    ...repeatable,
    describe: `set a namespaced kernel parameter KEY=VALUE${devicesNote}`,
    coerce: (v: string[]) => sysctlsFlag(flag, v),
  }) as const;

export const ulimitOption = (flag: string) =>
  ({
    ...repeatable,
    describe: `set a resource limit NAME=SOFT[:HARD], e.g. nofile=1024:2048${devicesNote}`,
    coerce: (v: string[]) => v.map((u) => parseUlimit(flag, u)),
  }) as const;

export const namesRmOption = (what: string) =>
  ({ ...repeatable, describe: `remove ${what}, by name` }) as const;
