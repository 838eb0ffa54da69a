// Benchmark: usage summaries from 500 simulated agents: the manager's CPU for them and their bytes per agent per hour.
import type { MqttClient } from 'mqtt';
import type { BoardReading } from '../../agent/observe/board.js';
import { summarize, type Reading } from '../../agent/observe/sampler.js';
import { randomId } from '../../shared/identity.js';
import type { Identity } from '../../shared/identity.js';
import { encode, topics } from '../../shared/protocol.js';
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

interface Beats {
  stop(): Promise<void>;
  /** Heartbeats sent, summaries among them, and the summaries' bytes as encoded in them. */
  counts(): { beats: number; summaries: number; summaryBytes: number };
  /** Every summary from now on, or none (phase switches). */
  setSummaries(on: boolean): void;
}

/** Heartbeats from every node at the default period, spread over it, with or without summaries. */
async function beatAll(address: string, nodes: Identity[], periodMs: number): Promise<Beats> {
  const clients: MqttClient[] = await Promise.all(nodes.map((n) => connectNode(address, n)));
  const boards = nodes.map(() => new SimBoard(Date.now()));
  const timers: NodeJS.Timeout[] = [];
  let summaries = false;
  const c = { beats: 0, summaries: 0, summaryBytes: 0 };
  clients.forEach((client, i) => {
    const node = nodes[i];
    const board = boards[i];
    if (!node || !board) return;
    client.on('error', () => undefined);
    let seq = 0;
    const beat = (): void => {
      const bare = { v: 1, seq: seq++, ts: Date.now() };
      const usage = summaries ? board.next(periodMs) : undefined;
      const payload = encode(usage ? { ...bare, usage } : bare);
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
    setSummaries: (on) => void (summaries = on),
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

async function measure(pid: number, beats: Beats, summaries: boolean): Promise<Phase> {
  beats.setSummaries(summaries);
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

/** Bytes of one summary with `tasks` tasks, as encoded in a heartbeat (mean of a few). */
function summaryBytes(tasks: number): number {
  const board = new SimBoard(Date.now(), tasks);
  let total = 0;
  const n = 20;
  for (let i = 0; i < n; i++) {
    const s = board.next(DEFAULT_STATS_MS);
    total +=
      encode({ v: 1, seq: 1, ts: 1, usage: s }).length - encode({ v: 1, seq: 1, ts: 1 }).length;
  }
  return total / n;
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
    const bare = await measure(pid, beats, false);
    const withSummaries = await measure(pid, beats, true);
    await checkReceived(m, nodes[0]);
    report(bare, withSummaries, perHour);
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

function report(bare: Phase, withSummaries: Phase, perHour: number): void {
  const perSummary = withSummaries.summaryBytes / Math.max(1, withSummaries.summaries);
  // CPU the summaries add, per summary received, scaled to the default period's rate.
  const cpuPerSummary =
    (((withSummaries.cpuPercent - bare.cpuPercent) / 100) * WINDOW_S) /
    Math.max(1, withSummaries.summaries);
  const defaultRate = AGENTS / (DEFAULT_STATS_MS / 1000);
  const atDefault = bare.cpuPercent + cpuPerSummary * defaultRate * 100;
  printTable(
    [
      ['phase', 'manager CPU %', 'heartbeats', 'summaries', 'summary bytes'],
      ['heartbeats alone', bare.cpuPercent.toFixed(1), String(bare.beats), '0', '0'],
      [
        `summary on every heartbeat`,
        withSummaries.cpuPercent.toFixed(1),
        String(withSummaries.beats),
        String(withSummaries.summaries),
        String(withSummaries.summaryBytes),
      ],
      [
        'default period (derived)',
        atDefault.toFixed(1),
        '',
        String(Math.round(defaultRate * WINDOW_S)),
        '',
      ],
    ],
    'lrrrr',
  );
  console.log(
    `method: summary bytes are what each summary adds to the JSON heartbeat it rides on, as published; ` +
      `per hour = mean bytes x ${perHour} summaries (one per ${DEFAULT_STATS_MS / 1000} s); manager CPU from /proc/PID/stat over each window`,
  );
  console.log(`manager CPU per summary received: ${(cpuPerSummary * 1e6).toFixed(0)} us`);
  printTable(
    [
      [
        'tasks per board',
        'bytes per summary',
        'bytes per agent per minute',
        'KB per agent per hour',
      ],
      ...[0, 1, 5, 10, 20].map((n) => {
        const b = summaryBytes(n);
        return [
          String(n),
          b.toFixed(0),
          (b * (60_000 / DEFAULT_STATS_MS)).toFixed(0),
          ((b * perHour) / 1024).toFixed(1),
        ];
      }),
    ],
    'rrrr',
  );
  const perMinute = perSummary * (60_000 / DEFAULT_STATS_MS);
  console.log(
    `measured: ${perSummary.toFixed(0)} bytes per summary with ${TASKS} tasks = ${perMinute.toFixed(0)} bytes per agent per minute = ${((perSummary * perHour) / 1024).toFixed(1)} KB per agent per hour`,
  );
  goalLine(
    `metrics summaries <= 1 KB per agent per minute (${TASKS} tasks per board): ${perMinute.toFixed(0)} B`,
    perMinute <= GOAL_BYTES_PER_MIN,
  );
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
