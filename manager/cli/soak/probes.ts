// HTTP probes through the ingress on every node's address: each answer or failure is counted per node.
import http from 'node:http';
import type { ProbeTally } from './model.js';

/** One GET to address:port; any HTTP answer counts (the path through the mesh works), a failure does not. */
export function probeOnce(address: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: address, port, path: '/', timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(true));
        res.on('error', () => resolve(false));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
  });
}

/** Counts answers and failures per node between two reads. */
export class ProbeCounter {
  private counts = new Map<string, { ok: number; failed: number }>();

  async probe(node: string, address: string, port: number): Promise<void> {
    const ok = await probeOnce(address, port);
    const c = this.counts.get(node) ?? { ok: 0, failed: 0 };
    if (ok) c.ok++;
    else c.failed++;
    this.counts.set(node, c);
  }

  /** The counts since the last take, as tallies at time t. */
  take(t: number): ProbeTally[] {
    const out = [...this.counts].map(([node, c]) => ({ t, node, ...c }));
    this.counts = new Map();
    return out;
  }
}
