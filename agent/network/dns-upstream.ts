// Forwards a query the agent cannot answer to the host's name servers, one after another, within a time bound.
import dgram from 'node:dgram';
import type { Clock } from '../../shared/clock.js';
import { isResponseTo, messageId } from './dns-codec.js';

/** How long all upstream tries of one query may take together before the client gets SERVFAIL. */
export const UPSTREAM_BOUND_MS = 2_000;

/**
 * Sends the query as it came to each server in turn (each gets an equal share of the bound)
 * and resolves with the first reply that answers it, or null when none did in time.
 */
export async function forwardQuery(
  query: Buffer,
  servers: readonly string[],
  clock: Clock,
  boundMs = UPSTREAM_BOUND_MS,
): Promise<Buffer | null> {
  const id = messageId(query);
  if (id === null || servers.length === 0) return null;
  const share = Math.max(100, Math.floor(boundMs / servers.length));
  for (const server of servers) {
    const reply = await askOne(query, id, server, share, clock);
    if (reply) return reply;
  }
  return null;
}

function askOne(
  query: Buffer,
  id: number,
  server: string,
  timeoutMs: number,
  clock: Clock,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    let done = false;
    const finish = (reply: Buffer | null): void => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    const timer = clock.setTimeout(() => finish(null), timeoutMs);
    socket.on('error', () => finish(null));
    socket.on('message', (msg) => {
      if (isResponseTo(msg, id)) finish(msg);
    });
    socket.send(query, 53, server, (err) => {
      if (err) finish(null);
    });
  });
}
