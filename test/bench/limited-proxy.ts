// A TCP proxy whose server-to-client bytes, summed over every connection, pass one byte-rate limit: a registry's uplink.
import net from 'node:net';
import { Bandwidth } from '../../shared/images/bandwidth.js';
import { systemClock } from '../../shared/clock.js';

export interface LimitedProxy {
  /** HOST:PORT clients connect to. */
  readonly address: string;
  /** Bytes sent from the upstream server to clients, and from clients to it, so far. */
  readonly down: () => number;
  readonly up: () => number;
  close(): Promise<void>;
}

/**
 * Listens on host (a free port) and forwards each connection to upstream (HOST:PORT). What the
 * upstream sends goes through one token bucket shared by all connections (the same kind the
 * manager's --max-bandwidth uses), so all clients together get at most bytesPerSec; what
 * clients send (requests, small) is not limited.
 */
export async function startLimitedProxy(
  host: string,
  upstream: string,
  bytesPerSec: number,
): Promise<LimitedProxy> {
  const [upHost, upPort] = [upstream.replace(/:\d+$/, ''), Number(upstream.split(':').pop())];
  const uplink = new Bandwidth(systemClock, bytesPerSec);
  const sockets = new Set<net.Socket>();
  let down = 0;
  let up = 0;
  const listener = net.createServer((client) => {
    const server = net.connect(upPort, upHost);
    sockets.add(client).add(server);
    let pending: Promise<void> = Promise.resolve();
    const drop = (): void => {
      client.destroy();
      server.destroy();
    };
    client.on('error', drop).on('close', () => {
      server.destroy();
      sockets.delete(client);
    });
    // The upstream's last bytes may still wait for their turn: end the client after them.
    server.on('error', drop).on('close', () => {
      sockets.delete(server);
      void pending.then(() => client.end());
    });
    client.on('data', (chunk: Buffer) => {
      up += chunk.length;
      if (!server.write(chunk)) {
        client.pause();
        server.once('drain', () => client.resume());
      }
    });
    // One chunk at a time: the upstream stays paused while a chunk waits for its turn or for
    // the client to drain, so bytes keep their order and nothing piles up in memory.
    server.on('data', (chunk: Buffer) => {
      server.pause();
      pending = uplink.take(chunk.length).then(() => {
        if (client.destroyed) return;
        down += chunk.length;
        if (client.write(chunk)) server.resume();
        else client.once('drain', () => server.resume());
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, host, () => resolve());
  });
  const a = listener.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    address: `${host}:${port}`,
    down: () => down,
    up: () => up,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        listener.close(() => resolve());
      }),
  };
}
