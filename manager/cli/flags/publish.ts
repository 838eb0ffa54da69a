// Published ports: --publish, --publish-add and --publish-rm, and the parser of their values.
import type { z } from 'zod';
import type { portSchema } from '../../../shared/spec.js';
import { invalid } from '../usage.js';
import { repeatable } from './values.js';

export type PortInput = z.input<typeof portSchema>;

export const publishOption = {
  ...repeatable,
  alias: 'p',
  describe: 'publish a port: 8080:80[/udp] or published=8080,target=80,protocol=tcp,mode=host',
  coerce: (v: string[]) => v.map(parsePublish),
} as const;

export const publishAddOption = {
  ...repeatable,
  describe: 'publish a port: 8080:80[/udp] or published=8080,target=80[,proxy=v2]',
  coerce: (v: string[]) => v.map(parsePublish),
} as const;

export const publishRmOption = {
  ...repeatable,
  describe: 'withdraw the port published on PORT[/tcp|/udp]',
} as const;

/** `8080:80`, `8080:80/udp`, `80`, or `published=8080,target=80,protocol=tcp,mode=host`. */
export function parsePublish(text: string): PortInput {
  const expected =
    'PUBLISHED:TARGET[/udp] or published=N,target=N[,protocol=tcp|udp][,mode=ingress|host][,proxy=v1|v2]';
  const port = text.includes('=') ? parseLongPublish(text) : parseShortPublish(text);
  if (!port) throw invalid('publish', text, expected);
  return port;
}

function parseShortPublish(text: string): PortInput | null {
  const m = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(text.trim());
  if (!m || !m[2]) return null;
  const port: PortInput = { target: Number(m[2]), protocol: m[3] === 'udp' ? 'udp' : 'tcp' };
  if (m[1] !== undefined) port.published = Number(m[1]);
  return validPort(port) ? port : null;
}

function parseLongPublish(text: string): PortInput | null {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const [key, value, extra] = part.split('=').map((s) => s.trim());
    if (!key || value === undefined || extra !== undefined || fields.has(key)) return null;
    fields.set(key, value);
  }
  const {
    published,
    target,
    protocol = 'tcp',
    mode = 'ingress',
    proxy,
  } = Object.fromEntries(fields);
  const known = ['published', 'target', 'protocol', 'mode', 'proxy'];
  if ([...fields.keys()].some((k) => !known.includes(k)) || target === undefined) return null;
  if ((protocol !== 'tcp' && protocol !== 'udp') || (mode !== 'ingress' && mode !== 'host'))
    return null;
  if (!/^\d+$/.test(target) || (published !== undefined && !/^\d+$/.test(published))) return null;
  if (proxy !== undefined && proxy !== 'v1' && proxy !== 'v2') return null;
  const port: PortInput = { target: Number(target), protocol, mode };
  if (proxy !== undefined) port.proxy = proxy;
  if (published !== undefined) port.published = Number(published);
  return validPort(port) ? port : null;
}

const inRange = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
const validPort = (p: PortInput): boolean =>
  inRange(p.target) && (p.published === undefined || inRange(p.published));
