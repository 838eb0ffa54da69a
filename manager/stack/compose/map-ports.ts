// Published ports (short "8000:80/udp", ranges, and long syntax) and exposed ports of a service.
import type { ExposedPort } from '../../../shared/network.js';
import type { PortSpec } from '../../../shared/spec.js';
import type { MapContext } from './context.js';
import { isMapping, type Mapping, type Value, text } from './locator.js';

type Port = Pick<PortSpec, 'target' | 'protocol' | 'mode'> & { published?: number };

export function mapPorts(ctx: MapContext, svc: Mapping, name: string): Port[] {
  if (!Array.isArray(svc.ports)) return [];
  const list = svc.ports;
  const out: Port[] = [];
  list.forEach((item, i) => {
    const where = `service "${name}": port ${JSON.stringify(item)}`;
    const r = isMapping(item) ? longPort(item) : shortPort(text(item));
    if (typeof r === 'string') ctx.problem(list, i, `${where}: ${r}`);
    else out.push(...r);
  });
  return out;
}

const PORT = '(\\d{1,5})(?:-(\\d{1,5}))?';
const SHORT = new RegExp(
  `^(?:(?:\\[[0-9a-fA-F:]+\\]|\\d+\\.[0-9.]+):)?(?:${PORT}:)?${PORT}(?:/(\\w+))?$`,
);

/** "80", "8000:80", "8000:80/udp", "8000-8001:80-81"; a host address is refused. */
function shortPort(text: string): Port[] | string {
  const m = SHORT.exec(text.trim());
  if (!m) return 'expected [PUBLISHED:]TARGET[/tcp|udp], e.g. 8000:80';
  if (/^(\[[0-9a-fA-F:]+\]|[0-9]+\.[0-9.]+):/.test(text.trim()))
    return 'a host address is not supported: fleet publishes on every node address (leave it out)';
  const [, p1, p2, t1, t2, proto = 'tcp'] = m;
  if (proto !== 'tcp' && proto !== 'udp') return `protocol "${proto}" is not tcp or udp`;
  const targets = range(t1, t2);
  const published = p1 === undefined ? null : range(p1, p2);
  if (typeof targets === 'string') return targets;
  if (typeof published === 'string') return published;
  if (published && published.length !== targets.length)
    return 'the published range and the target range are not the same length';
  return targets.map((target, i) => ({
    target,
    protocol: proto,
    mode: 'ingress' as const,
    ...(published ? { published: published[i] ?? 0 } : {}),
  }));
}

function range(from: string | undefined, to: string | undefined): number[] | string {
  const a = Number(from);
  const b = to === undefined ? a : Number(to);
  if (!valid(a) || !valid(b)) return 'ports are 1 to 65535';
  if (b < a) return `the range ${a}-${b} runs backwards`;
  if (b - a >= 1024) return 'a range of more than 1024 ports';
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

const valid = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;

function longPort(p: Mapping): Port[] | string {
  const target = Number(p.target);
  if (!valid(target)) return 'target must be a port from 1 to 65535';
  const protocol = p.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp')
    return `protocol "${text(protocol)}" is not tcp or udp`;
  const mode = p.mode ?? 'ingress';
  if (mode !== 'ingress' && mode !== 'host') return `mode "${text(mode)}" is not ingress or host`;
  const out: Port = { target, protocol, mode };
  if (p.published !== undefined && p.published !== null && p.published !== '') {
    const published = Number(p.published);
    if (!valid(published))
      return 'published must be a port from 1 to 65535 (a range only in the short syntax)';
    out.published = published;
  }
  return [out];
}

/** expose: ["3000", "8000-8001", "53/udp", 9000]. */
export function mapExpose(ctx: MapContext, svc: Mapping, name: string): ExposedPort[] {
  if (!Array.isArray(svc.expose)) return [];
  const list = svc.expose;
  const out: ExposedPort[] = [];
  list.forEach((item: Value, i) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp))?$/.exec(text(item).trim());
    const ports = m ? range(m[1], m[2]) : 'expected PORT[-PORT][/tcp|udp]';
    if (typeof ports === 'string')
      ctx.problem(list, i, `service "${name}": expose ${JSON.stringify(item)}: ${ports}`);
    else for (const port of ports) out.push({ port, protocol: m?.[3] === 'udp' ? 'udp' : 'tcp' });
  });
  return out;
}
