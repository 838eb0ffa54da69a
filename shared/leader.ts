// Following the Raft leader: comparing manager addresses and reading leader info, for agents and the CLI.
import type { LeaderInfo } from './protocol.js';

/** The port a manager listens on when an address names none. */
export const MANAGER_PORT = 4883;

/**
 * One spelling per listener, so "Host:4883", "host" and "[::ffff:127.0.0.2]:4883" compare
 * equal to "host:4883" and "127.0.0.2:4883". Names are not resolved: that would block and may
 * differ between the manager that published an address and the board reading it.
 */
export function normalizeAddress(address: string): string {
  const text = address.trim().toLowerCase();
  let host = text;
  let port = MANAGER_PORT;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const hostPort = /^([^:]*):(\d{1,5})$/.exec(text);
  if (bracketed?.[1]) {
    host = bracketed[1];
    if (bracketed[2]) port = Number(bracketed[2]);
  } else if (hostPort?.[1] !== undefined && hostPort[2]) {
    host = hostPort[1];
    port = Number(hostPort[2]);
  }
  // An IPv4 peer seen through a dual-stack socket.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  if (mapped?.[1]) host = mapped[1];
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function sameAddress(a: string, b: string): boolean {
  return normalizeAddress(a) === normalizeAddress(b);
}

/** `known` followed by the addresses of `more` it lacks, in order and without duplicates. */
export function mergeAddresses(known: readonly string[], more: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const a of [...known, ...more]) {
    const key = normalizeAddress(a);
    if (a.trim() === '' || seen.has(key)) continue;
    seen.add(key);
    out.push(a);
  }
  return out;
}

/** Every manager address the info names: the leader first, then the rest. */
export function addressesOf(info: LeaderInfo): string[] {
  const leader = info.leader ? [info.leader.address] : [];
  return mergeAddresses(
    leader,
    info.managers.map((m) => m.address),
  );
}

/**
 * Where to go when `info` came from the manager at `connectedTo`: the leader's address when it
 * is another manager, or null to stay (this manager leads, or no leader is known yet). The info
 * on a manager's broker is its own, so `from` is the connected manager's id; that catches a
 * manager reached under another name than the one it advertises.
 */
export function leaderElsewhere(info: LeaderInfo, connectedTo: string): string | null {
  const leader = info.leader;
  if (!leader) return null;
  if (leader.id === info.from || sameAddress(leader.address, connectedTo)) return null;
  return leader.address;
}
