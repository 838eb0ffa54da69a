// Who may use a bridge's names and virtual addresses: its own subnet, and the node itself.
import os from 'node:os';
import type { Clock } from '../../shared/clock.js';
import { inSubnet, type BridgeLayout } from './plan.js';

/** The node's addresses are read again at most this often (an address may come and go). */
const REFRESH_MS = 5_000;

/**
 * A check for client addresses: the bridge's subnet (its containers), or an address of this
 * node. The node's own traffic to the gateway may reach it with another source: Docker
 * masquerades what leaves a bridge's subnet by another interface (loopback included), and
 * some engines forward their embedded DNS queries from the host. A container of another
 * network has an address of its own subnet (never one of the node's) and is refused.
 */
export function clientFilter(layout: BridgeLayout, clock: Clock): (address: string) => boolean {
  let local = new Set<string>();
  let readAt = -Infinity;
  return (address) => {
    if (inSubnet(layout, address)) return true;
    const a = address.startsWith('::ffff:') ? address.slice(7) : address;
    if (a.startsWith('127.')) return true;
    if (!local.has(a) && clock.now() - readAt >= REFRESH_MS) {
      local = nodeAddresses();
      readAt = clock.now();
    }
    return local.has(a);
  };
}

function nodeAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces()))
    for (const i of list ?? []) if (i.family === 'IPv4') out.add(i.address);
  return out;
}
