// Benchmark: usage summaries from 500 simulated agents: the manager's CPU for them and their bytes per agent per hour.
import type { MqttClient } from 'mqtt';
import type { BoardReading } from '../../agent/observe/board.js';
import { summarize, type Reading } from '../../agent/observe/sampler.js';
import { randomId } from '../../shared/identity.js';
import type { Identity } from '../../shared/identity.js';
import { encode, topics } from '../../shared/protocol.js';
import { compactUsage } from '../../shared/usage-compact.js';
import type { UsageSummary } from '../../shared/usage.js';
import { DEFAULT_HEARTBEAT_MS } from '../../manager/bootstrap/cluster.js';
import { DEFAULT_STATS_MS } from '../../manager/observe/usage-book.js';
import { connectNode, joinNodes } from '../helpers/sim-agents.js';
import type { ManagerProc } from '../helpers/cluster.js';
import {
  CpuMeter,
  adminClient,
  goalLine,
  onInterrupt,
  printTable,
  sleep,
  startBenchManager,
  stopProc,
} from './lib.js';
import { promises as fs } from 'node:fs';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 500);
/** Running tasks per board, each with a line in every summary. */
const TASKS = Number(process.env.BENCH_TASKS ?? 5);
/** Each phase lasts this long; the whole run is about three of them plus the joins. */
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 20);
const HOST = '127.0.22.31';
/** The goal: summaries of one agent take at most this many bytes per minute. */
const GOAL_BYTES_PER_MIN = 1024;

/** One simulated board: counters that move between readings as a busy Pi's would. */
class SimBoard {
  private readonly ids: string[];
  private readonly runtimeIds: string[];
  private reading: Reading;
  private counters: { cpu: number; rx: number; tx: number }[];
  private cpuTotal = 0;
  private cpuIdle = 0;

  constructor(
    private at: number,
    tasks = TASKS,
  ) {
    this.ids = Array.from({ length: tasks }, () => randomId());
    this.runtimeIds = this.ids.map((id) => `fleet-${id}`);
    this.counters = this.runtimeIds.map(() => ({ cpu: 0, rx: 0, tx: 0 }));
    this.reading = { at, cpu: { total: 0, idle: 0 }, tasks: new Map() };
  }

  /** The summary the real sampler makes of the time since the last call. */
  next(periodMs: number): UsageSummary {
    this.at += periodMs;
    const seconds = periodMs / 1000;
    this.cpuTotal += 4 * 100 * seconds;
    this.cpuIdle += 4 * 100 * seconds * (0.4 + Math.random() * 0.5);
    this.counters = this.counters.map((c) => ({
      cpu: c.cpu + Math.random() * 0.3 * seconds,
      rx: c.rx + Math.floor(Math.random() * 200_000 * seconds),
      tx: c.tx + Math.floor(Math.random() * 50_000 * seconds),
    }));
    const workloads = this.runtimeIds.map((runtimeId, i) => ({
      runtimeId,
      cpuSeconds: this.counters[i]?.cpu ?? 0,
      memBytes: 30_000_000 + Math.floor(Math.random() * 90_000_000),
      rxBytes: this.counters[i]?.rx ?? 0,
      txBytes: this.counters[i]?.tx ?? 0,
    }));
    const board: BoardReading = {
      cpu: { total: this.cpuTotal, idle: this.cpuIdle },
      memUsed: 1_200_000_000 + Math.floor(Math.random() * 800_000_000),
      memTotal: 3_978_493_952,
      diskUsed: 6_000_000_000 + Math.floor(Math.random() * 1_000_000),
      diskTotal: 31_104_323_584,
      tempC: Math.round((45 + Math.random() * 15) * 1000) / 1000,
      underVoltage: false,
      throttled: false,
    };
    const running = this.ids.map((taskId, i) => ({ taskId, runtimeId: this.runtimeIds[i] ?? '' }));
    const summary = summarize(this.reading, { board, workloads, running, at: this.at });
    this.reading = {
      at: this.at,
      cpu: board.cpu,
      tasks: new Map(workloads.map((w) => [w.runtimeId, w.cpuSeconds])),
    };
    return summary;
  }
}

/** How summaries travel: not at all, as older agents send them, or as agents send them now. */
type Form = 'none' | 'full' | 'compact';

interface Beats {
  stop(): Promise<void>;
  /** Heartbeats sent, summaries among them, and the summaries' bytes as encoded in them. */
  counts(): { beats: number; summaries: number; summaryBytes: number };
  /** From now on: no summaries, or one on every heartbeat in the full or the compact form. */
  setSummaries(form: Form): void;
}

/** Heartbeats from every node at the default period, spread over it, with or without summaries. */
async function beatAll(address: string, nodes: Identity[], periodMs: number): Promise<Beats> {
  const clients: MqttClient[] = await Promise.all(nodes.map((n) => connectNode(address, n)));
  const boards = nodes.map(() => new SimBoard(Date.now()));
  const timers: NodeJS.Timeout[] = [];
  let form: Form = 'none';
  const c = { beats: 0, summaries: 0, summaryBytes: 0 };
  clients.forEach((client, i) => {
    const node = nodes[i];
    const board = boards[i];
    if (!node || !board) return;
    client.on('error', () => undefined);
    let seq = 0;
    const beat = (): void => {
      const bare = { v: 1, seq: seq++, ts: Date.now() };
      const usage = form === 'none' ? undefined : board.next(periodMs);
      const payload = encode(
        usage
          ? form === 'compact'
            ? { ...bare, u: compactUsage(usage) }
            : { ...bare, usage }
          : bare,
      );
      c.beats++;
      if (usage) {
        c.summaries++;
        // What the summary adds to the heartbeat it rides on, as sent.
        c.summaryBytes += payload.length - encode(bare).length;
      }
      client.publish(topics.heartbeat(node.id), payload, { qos: 0 });
    };
    const offset = Math.floor((periodMs * i) / clients.length);
    timers.push(setTimeout(() => (beat(), timers.push(setInterval(beat, periodMs))), offset));
  });
  return {
    counts: () => ({ ...c }),
    setSummaries: (f) => void (form = f),
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      await Promise.all(clients.map((cl) => cl.endAsync(true).catch(() => undefined)));
    },
  };
}

interface Phase {
  cpuPercent: number;
  beats: number;
  summaries: number;
  summaryBytes: number;
}

async function measure(pid: number, beats: Beats, form: Form): Promise<Phase> {
  beats.setSummaries(form);
  // One period to settle, so the window holds only this phase's traffic.
  await sleep(DEFAULT_HEARTBEAT_MS + 500);
  const meter = new CpuMeter(pid);
  const before = beats.counts();
  meter.start();
  await sleep(WINDOW_S * 1000);
  const cpuPercent = meter.read();
  const after = beats.counts();
  return {
    cpuPercent,
    beats: after.beats - before.beats,
    summaries: after.summaries - before.summaries,
    summaryBytes: after.summaryBytes - before.summaryBytes,
  };
}

/** Bytes one summary with `tasks` tasks adds to a heartbeat, in each form (mean of a few). */
function summaryBytes(tasks: number): { full: number; compact: number } {
  const board = new SimBoard(Date.now(), tasks);
  const bare = encode({ v: 1, seq: 1, ts: 1 }).length;
  const n = 20;
  let full = 0;
  let compact = 0;
  for (let i = 0; i < n; i++) {
    const usage = board.next(DEFAULT_STATS_MS);
    full += encode({ v: 1, seq: 1, ts: 1, usage }).length - bare;
    compact += encode({ v: 1, seq: 1, ts: 1, u: compactUsage(usage) }).length - bare;
  }
  return { full: full / n, compact: compact / n };
}

async function main(): Promise<void> {
  const perHour = 3_600_000 / DEFAULT_STATS_MS;
  console.log(
    `observe-metrics: 1 manager, ${AGENTS} simulated agents with ${TASKS} tasks each, heartbeats every ${DEFAULT_HEARTBEAT_MS} ms; ` +
      `phases of ${WINDOW_S} s: heartbeats alone, then a summary on every heartbeat (${DEFAULT_STATS_MS / DEFAULT_HEARTBEAT_MS}x the default rate of one per ${DEFAULT_STATS_MS / 1000} s)`,
  );
  const m = await startBenchManager({ host: HOST });
  const cleanup = async (): Promise<void> => {
    await stopProc(m.proc);
    await fs.rm(m.dataDir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(cleanup);
  let beats: Beats | undefined;
  try {
    const pid = m.proc.pid ?? 0;
    const t0 = Date.now();
    const nodes = await joinNodes(m.address, m.workerToken, AGENTS, 'obs');
    console.log(`joined ${nodes.length} nodes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    beats = await beatAll(m.address, nodes, DEFAULT_HEARTBEAT_MS);
    const bare = await measure(pid, beats, 'none');
    const full = await measure(pid, beats, 'full');
    const compact = await measure(pid, beats, 'compact');
    await checkReceived(m, nodes[0]);
    report(bare, full, compact, perHour);
  } finally {
    await beats?.stop();
    await cleanup();
    unregister();
  }
}

/** The manager kept the summaries it was sent: a node shows its usage in `node inspect`. */
async function checkReceived(m: ManagerProc, node: Identity | undefined): Promise<void> {
  const client = await adminClient(m);
  try {
    const view = await client.call('node.inspect', { node: node?.id ?? '' });
    if (!view.usage) throw new Error(`the manager holds no usage of node ${view.name}`);
    console.log(
      `received: node ${view.name} shows its summary (cpu ${view.usage.cpu}, ${view.usage.memUsed} bytes used)`,
    );
  } finally {
    await client.close();
  }
}

/** Per summary: bytes as sent, and the manager CPU seconds it adds over heartbeats alone. */
function perSummary(bare: Phase, p: Phase): { bytes: number; cpuS: number } {
  const n = Math.max(1, p.summaries);
  return {
    bytes: p.summaryBytes / n,
    cpuS: (((p.cpuPercent - bare.cpuPercent) / 100) * WINDOW_S) / n,
  };
}

function report(bare: Phase, full: Phase, compact: Phase, perHour: number): void {
  const defaultRate = AGENTS / (DEFAULT_STATS_MS / 1000);
  const perMin = 60_000 / DEFAULT_STATS_MS;
  const row = (name: string, p: Phase): string[] => {
    const s = perSummary(bare, p);
    const atDefault = bare.cpuPercent + Math.max(0, s.cpuS) * defaultRate * 100;
    return [
      name,
      p.cpuPercent.toFixed(1),
      String(p.summaries),
      p.summaries ? `${(s.cpuS * 1e6).toFixed(0)} us` : '',
      p.summaries ? atDefault.toFixed(1) : bare.cpuPercent.toFixed(1),
      p.summaries ? s.bytes.toFixed(0) : '',
      p.summaries ? (s.bytes * perMin).toFixed(0) : '',
      p.summaries ? ((s.bytes * perHour) / 1024).toFixed(1) : '',
    ];
  };
  printTable(
    [
      [
        'summaries',
        'CPU %',
        'received',
        'CPU each',
        'CPU % at 30 s',
        'B each',
        'B/agent/min',
        'KB/agent/h',
      ],
      row('none (heartbeats alone)', bare),
      row('full form, every beat', full),
      row('compact form, every beat', compact),
    ],
    'lrrrrrrr',
  );
  console.log(
    `method: manager CPU from /proc/PID/stat over each ${WINDOW_S} s window, side by side in one run; a summary on every ` +
      `heartbeat (${DEFAULT_STATS_MS / DEFAULT_HEARTBEAT_MS}x the default rate) and the extra CPU per summary scaled to the ` +
      `default rate (${AGENTS} agents / ${DEFAULT_STATS_MS / 1000} s). Bytes: what each summary adds to the JSON heartbeat it ` +
      `rides on, as published; per minute x ${perMin}, per hour x ${perHour} (one per ${DEFAULT_STATS_MS / 1000} s).`,
  );
  printTable(
    [
      ['tasks per board', 'full B', 'compact B', 'full B/min', 'compact B/min', 'compact KB/h'],
      ...[0, 1, 5, 10, 20].map((n) => {
        const b = summaryBytes(n);
        return [
          String(n),
          b.full.toFixed(0),
          b.compact.toFixed(0),
          (b.full * perMin).toFixed(0),
          (b.compact * perMin).toFixed(0),
          ((b.compact * perHour) / 1024).toFixed(1),
        ];
      }),
    ],
    'rrrrrr',
  );
  const c = perSummary(bare, compact).bytes * perMin;
  const f = perSummary(bare, full).bytes * perMin;
  console.log(`compact / full bytes: ${(c / f).toFixed(2)}`);
  goalLine(
    `metrics summaries <= 1 KB per agent per minute (${TASKS} tasks per board, compact form as agents send it): ${c.toFixed(0)} B (full form ${f.toFixed(0)} B)`,
    c <= GOAL_BYTES_PER_MIN,
  );
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
