// Samples the agents' TCP connections to a manager port with ss: when each agent process was connected, and the bytes it received.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { agentPids } from '../helpers/supervised-boards.js';

const run = promisify(execFile);
const EVERY_MS = 50;

interface Seen {
  /** First and last sample (performance.now()) in which the process had a connection open. */
  first: number;
  last: number;
  /** bytes_received at the first and at the latest sample, per connection (local address). */
  bytes: Map<string, { from: number; to: number }>;
}

/** Samples every 50 ms until stop(); figures per agent process (pid). */
export class ConnectionSampler {
  private readonly seen = new Map<number, Seen>();
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly port: number,
    private readonly dataDirs: string[],
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.sample().catch(() => undefined);
        await new Promise((r) => setTimeout(r, EVERY_MS));
      }
    })();
  }

  async stopAndWait(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Time between the old process's last open connection and the new one's first (ms). */
  gapMs(oldPid: number, newPid: number): number {
    const a = this.seen.get(oldPid);
    const b = this.seen.get(newPid);
    if (!a || !b) return NaN;
    return Math.max(0, b.first - a.last);
  }

  /** Bytes the process received on its connections to the port from the first sample to its last. */
  bytesReceived(pid: number): number {
    const s = this.seen.get(pid);
    if (!s) return NaN;
    let sum = 0;
    for (const v of s.bytes.values()) sum += v.to - v.from;
    return sum;
  }

  private async sample(): Promise<void> {
    const pids = new Set(this.dataDirs.flatMap((d) => agentPids(d)));
    const { stdout } = await run('ss', [
      '-tinpH',
      'state',
      'established',
      `( dport = :${this.port} )`,
    ]);
    const now = performance.now();
    for (const conn of connections(stdout)) {
      if (!pids.has(conn.pid)) continue;
      const s: Seen = this.seen.get(conn.pid) ?? { first: now, last: now, bytes: new Map() };
      s.last = now;
      const b = s.bytes.get(conn.local);
      const n = conn.bytesReceived;
      s.bytes.set(conn.local, { from: b?.from ?? n, to: Math.max(b?.to ?? 0, n) });
      this.seen.set(conn.pid, s);
    }
  }
}

/** ss -tinpH prints each connection's line, then an indented line of its TCP info. */
function connections(text: string): { pid: number; local: string; bytesReceived: number }[] {
  const out: { pid: number; local: string; bytesReceived: number }[] = [];
  let current: { pid: number; local: string } | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const pid = /pid=(\d+)/.exec(line)?.[1];
      const local = line.trim().split(/\s+/)[2];
      current = pid && local ? { pid: Number(pid), local } : undefined;
      continue;
    }
    const bytes = /bytes_received:(\d+)/.exec(line)?.[1];
    if (current) out.push({ ...current, bytesReceived: Number(bytes ?? 0) });
    current = undefined;
  }
  return out;
}
