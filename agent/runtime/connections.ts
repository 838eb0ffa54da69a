// Counts a workload's open TCP connections from the kernel's socket tables in /proc, for draining.
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * TCP states in which a connection may still carry data to or from the client: ESTABLISHED,
 * CLOSE_WAIT (the client is done sending), and those where the server closed but the peer has
 * not acknowledged everything yet: FIN_WAIT1, CLOSING, LAST_ACK.
 */
const SERVING_STATES = new Set(['01', '08', '04', '0B', '09']);

/**
 * Connections served on one of `ports` (the socket's local port) in the network namespace of
 * process `pid`: /proc/PID/net/tcp and tcp6. Null when neither table can be read (not Linux,
 * the process is gone, or no permission), so callers fall back to a fixed wait.
 */
export async function servedConnections(
  pid: number | 'self',
  ports: readonly number[],
  procRoot = '/proc',
): Promise<number | null> {
  if (ports.length === 0) return 0;
  const wanted = new Set(ports);
  let readable = false;
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = await fs.readFile(path.join(procRoot, String(pid), 'net', table), 'utf8');
    } catch {
      continue;
    }
    readable = true;
    count += countServing(text, wanted);
  }
  return readable ? count : null;
}

/** Rows of a /proc/net/tcp table whose local port is wanted and whose state is serving. */
export function countServing(table: string, ports: ReadonlySet<number>): number {
  let n = 0;
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    if (local === undefined || state === undefined || !SERVING_STATES.has(state)) continue;
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (ports.has(port)) n++;
  }
  return n;
}
