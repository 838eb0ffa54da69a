// Samples the agents' TCP connections to a manager port with ss: when each agent process was connected, and the bytes it received.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
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
  private baselineTaken = false;
  /** `ss -E`: each connection as it closes, with its final counters, by local address. */
  private events: ChildProcess | undefined;
  private readonly closed = new Map<string, { at: number; bytesReceived: number }>();
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly port: number,
    private readonly dataDirs: string[],
  ) {}

  /** Takes the first sample (the baseline: what connections received before it is not counted), then goes on. */
  async start(): Promise<void> {
    this.watchCloses();
    await this.sample();
    this.baselineTaken = true;
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
    this.events?.kill();
  }

  /** Samples miss what a connection receives just before it closes: ss -E reports its last figures (line-buffered, so on time). */
  private watchCloses(): void {
    const ss = spawn('stdbuf', ['-oL', 'ss', '-tinHE'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.events = ss;
    let buffered = '';
    let local: string | undefined;
    ss.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!/^\s/.test(line)) {
          const f = line.trim().split(/\s+/);
          local = f[4]?.endsWith(`:${this.port}`) ? f[3] : undefined;
          continue;
        }
        const bytes = /bytes_received:(\d+)/.exec(line)?.[1];
        if (local)
          this.closed.set(local, { at: performance.now(), bytesReceived: Number(bytes ?? 0) });
        local = undefined;
      }
    });
  }

  /** Time between the close of the old process's connection (or its last sample) and the new one's first sample (ms). */
  gapMs(oldPid: number, newPid: number): number {
    const a = this.seen.get(oldPid);
    const b = this.seen.get(newPid);
    if (!a || !b) return NaN;
    const closedAt = Math.max(...[...a.bytes.keys()].map((l) => this.closed.get(l)?.at ?? a.last));
    return Math.max(0, b.first - closedAt);
  }

  /** Bytes the process received on its connections to the port from the first sample to its last. */
  bytesReceived(pid: number): number {
    const s = this.seen.get(pid);
    if (!s) return NaN;
    let sum = 0;
    for (const [local, v] of s.bytes)
      sum += Math.max(v.to, this.closed.get(local)?.bytesReceived ?? 0) - v.from;
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
      // A connection opened after the baseline counts from its start.
      const from = b?.from ?? (this.baselineTaken ? 0 : n);
      s.bytes.set(conn.local, { from, to: Math.max(b?.to ?? 0, n) });
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
