// Pure planning for a node's network bridges: names, subnets from the pool, virtual addresses, and what to forward where.
import { createHash } from 'node:crypto';
import type { DiscoveryTable } from '../../shared/network.js';
import { normaliseName } from './dns-policy.js';

export type TableNetwork = DiscoveryTable['networks'][number];

export const DEFAULT_NETWORK_POOL = '10.213.0.0/16';
/** Virtual addresses are host numbers 128..254 of a bridge's /24; containers get 2..127. */
export const VIP_FIRST = 128;
export const VIP_LAST = 254;

/** A bridge's addresses: its /24, the containers' lower half, the gateway (.1). */
export interface BridgeLayout {
  subnet: string;
  ipRange: string;
  gateway: string;
  /** The first three octets, "10.213.4". */
  prefix: string;
}

/**
 * The engine's name for a cluster network's bridge on this node. Several agents sharing one
 * engine (the tests) each get their own: the node id is part of it.
 */
export function localNetworkName(network: string, nodeId: string): string {
  const node = nodeId.replace(/[^a-zA-Z0-9_-]/g, '').slice(0, 12) || hash(nodeId, 12);
  return `${network}.${node}`;
}

/** The Linux interface name (15 characters at most): "fl-" and a digest of the engine's name. */
export function bridgeInterfaceName(localName: string): string {
  return `fl-${hash(localName, 12)}`;
}

/** A pool "A.B.C.D/N" (N from 8 to 24) as its /24 prefixes; throws on anything else. */
export function poolPrefixes(pool: string): string[] {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(pool.trim());
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const bits = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || !(bits >= 8 && bits <= 24))
    throw new Error(`--network-pool must be an IPv4 pool A.B.C.D/N with N from 8 to 24: "${pool}"`);
  const base = octets.reduce((n, o) => n * 256 + o, 0) >>> 0;
  const mask = (0xffffffff << (32 - bits)) >>> 0;
  const start = (base & mask) >>> 0;
  const count = 2 ** (24 - bits);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = start + i * 256;
    out.push(`${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}`);
  }
  return out;
}

/**
 * The /24s to try for a bridge, in order: starting at a place picked from its name, so agents
 * sharing an engine rarely race for the same one, skipping those the engine already uses.
 */
export function subnetCandidates(
  pool: string,
  localName: string,
  usedSubnets: readonly string[],
): string[] {
  const prefixes = poolPrefixes(pool);
  const used = new Set(usedSubnets.map((s) => s.replace(/\.\d+\/\d+$/, '')));
  const start = parseInt(hash(localName, 8), 16) % prefixes.length;
  const ordered = [...prefixes.slice(start), ...prefixes.slice(0, start)];
  return ordered.filter((p) => !used.has(p));
}

export function layoutOf(prefix: string): BridgeLayout {
  return {
    subnet: `${prefix}.0/24`,
    ipRange: `${prefix}.0/25`,
    gateway: `${prefix}.1`,
    prefix,
  };
}

/** The prefix of a "A.B.C.0/24" subnet, or null for a subnet that is not a /24. */
export function prefixOf(subnet: string): string | null {
  const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.0\/24$/.exec(subnet);
  return m?.[1] ?? null;
}

/** Whether an IPv4 address (or its IPv6-mapped form) lies in the bridge's /24. */
export function inSubnet(layout: BridgeLayout, address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a.startsWith(`${layout.prefix}.`);
}

/**
 * Host numbers for the services of a network: each keeps the one it has, new ones get the
 * lowest free, services that left give theirs back. A network with more services than the upper
 * half holds leaves the rest without an address (returned in `unplaced`).
 */
export function assignVips(
  current: Readonly<Record<string, number>>,
  services: readonly string[],
): { vips: Record<string, number>; unplaced: string[] } {
  const vips: Record<string, number> = {};
  const taken = new Set<number>();
  for (const s of services) {
    const n = current[s];
    if (n !== undefined && n >= VIP_FIRST && n <= VIP_LAST && !taken.has(n)) {
      vips[s] = n;
      taken.add(n);
    }
  }
  const unplaced: string[] = [];
  let next = VIP_FIRST;
  for (const s of services) {
    if (vips[s] !== undefined) continue;
    while (taken.has(next) && next <= VIP_LAST) next++;
    if (next > VIP_LAST) {
      unplaced.push(s);
      continue;
    }
    vips[s] = next;
    taken.add(next);
  }
  return { vips, unplaced };
}

/** The network's names (lower case) and the virtual address each answers with. */
export function nameTable(
  net: TableNetwork,
  layout: BridgeLayout,
  vips: Readonly<Record<string, number>>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of net.services) {
    const n = vips[s.service];
    if (n === undefined) continue;
    for (const name of [s.service, ...s.names])
      out.set(normaliseName(name), `${layout.prefix}.${n}`);
  }
  return out;
}

/** A forwarder to run: a service's virtual address and port, with where its tasks answer. */
export interface ForwardPlan {
  key: string;
  service: string;
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  backends: { id: string; host: string; port: number; local: boolean }[];
}

/** One forwarder per service and port that has a virtual address (backends may be none yet). */
export function forwardPlans(
  net: TableNetwork,
  layout: BridgeLayout,
  vips: Readonly<Record<string, number>>,
  nodeId: string,
): ForwardPlan[] {
  const out: ForwardPlan[] = [];
  for (const s of net.services) {
    const n = vips[s.service];
    if (n === undefined) continue;
    const vip = `${layout.prefix}.${n}`;
    for (const p of s.ports) {
      out.push({
        key: `${vip}:${p.target}/${p.protocol}`,
        service: s.service,
        vip,
        port: p.target,
        protocol: p.protocol,
        backends: p.backends.map((b) => ({
          id: b.taskId,
          host: b.host,
          port: b.port,
          local: b.nodeId === nodeId,
        })),
      });
    }
  }
  return out;
}

/** Stacks named by labels that the table no longer lists: what is labelled with them may go. */
export function goneStacks(labelled: readonly string[], stacks: readonly string[]): Set<string> {
  const live = new Set(stacks);
  return new Set(labelled.filter((s) => s !== '' && !live.has(s)));
}

function hash(s: string, hexChars: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, hexChars);
}
