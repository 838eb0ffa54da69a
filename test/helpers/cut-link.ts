// A TCP relay between an agent and its manager that a test can cut: every connection through it reset at once.
import net from 'node:net';
import type { TestContext } from 'node:test';

export interface CutLink {
  /** HOST:PORT to give the agent as its manager. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Resets every open connection, both sides (RST, no FIN); new ones are relayed again. Returns how many. */
  cut(): number;
}

/**
 * Listens on host (a free port) and relays each connection to target byte for byte: TLS and
 * MQTT pass through untouched. Closed after the test.
 */
export async function startCutLink(t: TestContext, host: string, target: string): Promise<CutLink> {
  const at = target.lastIndexOf(':');
  const to = { host: target.slice(0, at), port: Number(target.slice(at + 1)) };
  const pairs = new Set<readonly [net.Socket, net.Socket]>();
  let accepted = 0;
  const server = net.createServer((inbound) => {
    accepted++;
    const outbound = net.connect(to);
    const pair = [inbound, outbound] as const;
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  t.after(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    address: `${host}:${port}`,
    get accepted() {
      return accepted;
    },
    cut() {
      const open = [...pairs];
      pairs.clear();
      for (const [a, b] of open) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      return open.length;
    },
  };
}
