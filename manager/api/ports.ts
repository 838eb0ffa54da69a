// Published ports: numbers for ingress ports given none, and one service per published port.
import { FleetError, invalidArgument } from '../../shared/errors.js';
import type { PortSpec, ServiceSpec } from '../../shared/spec.js';
import type { StoreView } from '../store/store.js';

/** Where ingress ports published without a number are placed, as Swarm does. */
const AUTO_FIRST = 30_000;
const AUTO_LAST = 32_767;

const key = (p: { published?: number | undefined; protocol: string }): string =>
  `${p.published}/${p.protocol}`;

/**
 * The spec with every ingress port numbered, checked against the other services: an ingress
 * port listens on every node, so its number and protocol belong to one service only.
 */
export function publishPorts(store: StoreView, spec: ServiceSpec, serviceId: string): ServiceSpec {
  const taken = new Map<string, { service: string; mode: PortSpec['mode'] }>();
  for (const s of store.services()) {
    if (s.id === serviceId) continue;
    for (const p of s.spec.task.ports)
      if (p.published !== undefined) taken.set(key(p), { service: s.spec.name, mode: p.mode });
  }
  const ports = spec.task.ports.map((p) => {
    if (p.published !== undefined || p.mode !== 'ingress') return p;
    return { ...p, published: freePort(taken, p.protocol, spec.task.ports) };
  });
  for (const p of ports) {
    if (p.published === undefined) continue;
    const other = taken.get(key(p));
    if (other && (other.mode === 'ingress' || p.mode === 'ingress'))
      throw new FleetError(
        'conflict',
        `port ${key(p)} is already published by service ${other.service}`,
      );
  }
  return { ...spec, task: { ...spec.task, ports } };
}

function freePort(
  taken: Map<string, unknown>,
  protocol: PortSpec['protocol'],
  own: PortSpec[],
): number {
  const mine = new Set(own.map((p) => key(p)));
  for (let n = AUTO_FIRST; n <= AUTO_LAST; n++) {
    const k = key({ published: n, protocol });
    if (!taken.has(k) && !mine.has(k)) return n;
  }
  throw new FleetError('conflict', `no free port left in ${AUTO_FIRST}-${AUTO_LAST}`);
}

/** `--publish-rm 8080` or `8080/udp`: drops the ports published there (or with that target). */
export function removePorts(ports: PortSpec[], rm: string[]): PortSpec[] {
  let out = ports;
  for (const text of rm) {
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(text.trim());
    if (!m) throw invalidArgument(`--publish-rm takes PORT[/tcp|/udp], got "${text}"`);
    const n = Number(m[1]);
    const matches = (p: PortSpec): boolean =>
      (m[2] === undefined || p.protocol === m[2]) &&
      (p.published === n || (p.published === undefined && p.target === n));
    if (!out.some(matches)) throw invalidArgument(`no port is published on ${text}`);
    out = out.filter((p) => !matches(p));
  }
  return out;
}
