// Benchmark: write commits per second and commit latency, three Raft managers against one, at 1, 16 and 64 writers.
import Database from 'better-sqlite3';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RpcClient } from '../../manager/cli/rpc-client.js';
import { FleetError } from '../../shared/errors.js';
import { tempDir, type ManagerProc } from '../helpers/cluster.js';
import {
  CpuMeter,
  clusterClient,
  noDelayExperiment,
  onInterrupt,
  percentile,
  printTable,
  sleep,
  startBenchCluster,
  stopProc,
} from './lib.js';

const LEVELS = (process.env.FLEET_BENCH_WRITERS ?? '1,16,64').split(',').map(Number);
/** Measured seconds per concurrency level, after a one-second warm-up. */
const WINDOW_S = Number(process.env.FLEET_BENCH_SECONDS ?? 10);
const WARMUP_MS = 1_000;
const SETUPS = [1, 3] as const;

interface Level {
  writers: number;
  commits: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  leaderCpu: number;
  followerCpu: number;
  benchCpu: number;
}

/**
 * One SQLite transaction with synchronous=FULL in WAL mode, as the Raft log writes each batch:
 * what one fsync costs on this disk, the floor under a commit.
 */
function fsyncBaseline(dir: string): { p50: number; p99: number } {
  const db = new Database(path.join(dir, 'fsync.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      db.transaction(() => insert.run(i, 'x'.repeat(200)))();
      times.push(performance.now() - t);
    }
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  } finally {
    db.close();
  }
}

/**
 * `writers` loops, each over its own client, alternate config.create and config.rm of their own
 * config (so the state stays small), back to back; completions inside the window are counted.
 */
async function measure(managers: ManagerProc[], writers: number): Promise<Level> {
  const clients: RpcClient[] = [];
  try {
    for (let i = 0; i < writers; i += 16) {
      const batch = Math.min(16, writers - i);
      clients.push(
        ...(await Promise.all(Array.from({ length: batch }, () => clusterClient(managers, 5_000)))),
      );
    }
    const leaderAddress = (await clients[0]?.call('manager.ls', {}))?.find(
      (m) => m.leader,
    )?.address;
    const leader = managers.find((m) => m.address === leaderAddress);
    const followers = managers.filter((m) => m !== leader);
    const start = performance.now();
    const from = start + WARMUP_MS;
    const until = from + WINDOW_S * 1000;
    const latencies: number[] = [];
    let errors = 0;
    let cpu: CpuMeter[] = [];
    let benchCpu0 = process.cpuUsage();
    const meters = setTimeout(() => {
      cpu = managers.map((m) => new CpuMeter(m.proc.pid ?? 0));
      for (const c of cpu) c.start();
      benchCpu0 = process.cpuUsage();
    }, WARMUP_MS);
    let cpuAtEnd: number[] = [];
    let benchCpu = 0;
    const readMeters = setTimeout(
      () => {
        cpuAtEnd = cpu.map((c) => c.read());
        const u = process.cpuUsage(benchCpu0);
        benchCpu = ((u.user + u.system) / 1000 / (WINDOW_S * 1000)) * 100;
      },
      WARMUP_MS + WINDOW_S * 1000,
    );
    const writer = async (client: RpcClient, i: number): Promise<void> => {
      const name = `bench-w${i}`;
      let exists = false;
      while (performance.now() < until) {
        const t = performance.now();
        try {
          if (exists) await client.call('config.rm', { config: name });
          else await client.call('config.create', { name, data: 'AA==' });
          const done = performance.now();
          if (t >= from && done <= until) latencies.push(done - t);
          exists = !exists;
        } catch (e) {
          const code = e instanceof FleetError ? e.code : 'other';
          // Retried after a timeout, the first attempt had been applied: the state is known now.
          if (code === 'already_exists') exists = true;
          else if (code === 'not_found') exists = false;
          if (t >= from) errors++;
          await sleep(10);
        }
      }
    };
    await Promise.all(clients.map((c, i) => writer(c, i)));
    clearTimeout(meters);
    clearTimeout(readMeters);
    const leaderIndex = leader ? managers.indexOf(leader) : -1;
    const followerCpu = followers.reduce((sum, f) => sum + (cpuAtEnd[managers.indexOf(f)] ?? 0), 0);
    return {
      writers,
      commits: latencies.length,
      perSecond: latencies.length / WINDOW_S,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      errors,
      leaderCpu: cpuAtEnd[leaderIndex] ?? NaN,
      followerCpu: followers.length > 0 ? followerCpu / followers.length : NaN,
      benchCpu,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const nodeArgs = await noDelayExperiment();
  console.log(
    `raft: write commits with 1 manager (no replication) and with 3 managers on loopback, ` +
      `at ${LEVELS.join(', ')} concurrent writers, ${WINDOW_S} s each (after ${WARMUP_MS / 1000} s warm-up); ` +
      `${os.cpus().length} CPUs shared by the managers and this process` +
      (nodeArgs.length > 0 ? '; EXPERIMENT: TCP_NODELAY on every outgoing TLS connection' : ''),
  );
  const root = tempDir('bench-raft');
  let managers: ManagerProc[] = [];
  const teardown = async (): Promise<void> => {
    await Promise.all(managers.map((m) => stopProc(m.proc)));
    managers = [];
    await fs.rm(root, { recursive: true, force: true });
  };
  const forget = onInterrupt(teardown);
  const results = new Map<number, Level[]>();
  try {
    const disk = fsyncBaseline(root);
    console.log(
      `  disk: one SQLite WAL transaction with synchronous=FULL (an fsync) takes p50 ${disk.p50.toFixed(2)} ms, p99 ${disk.p99.toFixed(2)} ms`,
    );
    for (const count of SETUPS) {
      const dir = path.join(root, `cluster-${count}`);
      managers = await startBenchCluster(count, dir, { nodeArgs });
      const levels: Level[] = [];
      for (const writers of LEVELS) {
        const r = await measure(managers, writers);
        console.log(
          `  ${count} manager${count > 1 ? 's' : ''}, ${writers} writers: ${r.perSecond.toFixed(0)} commits/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms`,
        );
        levels.push(r);
      }
      results.set(count, levels);
      await Promise.all(managers.map((m) => stopProc(m.proc)));
      managers = [];
    }
    report(results);
    console.log(`run time: ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
  } finally {
    await teardown();
    forget();
  }
}

function report(results: Map<number, Level[]>): void {
  const one = results.get(1) ?? [];
  const three = results.get(3) ?? [];
  console.log('');
  const rows = [
    [
      'writers',
      '1 mgr commits/s',
      '3 mgr commits/s',
      'ratio 3/1',
      '1 mgr p50 / p99 ms',
      '3 mgr p50 / p99 ms',
      'ratio p50 3/1',
    ],
  ];
  one.forEach((a, i) => {
    const b = three[i];
    if (!b) return;
    rows.push([
      String(a.writers),
      a.perSecond.toFixed(0),
      b.perSecond.toFixed(0),
      ratio(b.perSecond, a.perSecond),
      `${fmt(a.p50)} / ${fmt(a.p99)}`,
      `${fmt(b.p50)} / ${fmt(b.p99)}`,
      ratio(b.p50, a.p50),
    ]);
  });
  printTable(rows, 'rrrrrrr');
  console.log('');
  const cpu = [
    ['writers', 'managers', 'leader CPU %', 'follower CPU % (each)', 'bench CPU %', 'errors'],
  ];
  for (const [count, levels] of [...results].sort((x, y) => x[0] - y[0]))
    for (const r of levels)
      cpu.push([
        String(r.writers),
        String(count),
        r.leaderCpu.toFixed(0),
        count > 1 ? r.followerCpu.toFixed(0) : '',
        r.benchCpu.toFixed(0),
        String(r.errors),
      ]);
  printTable(cpu, 'rrrrrr');
  console.log(
    "method: a commit is one small write RPC (config.create or config.rm of the writer's own config, " +
      'alternating) from request to acknowledgement, measured by the client: the leader runs the handler, ' +
      'appends the entry to its Raft log (a SQLite transaction with an fsync), replicates it, and once a ' +
      'majority has it fsynced in their logs (the leader and one follower of three; a single manager only ' +
      'itself) applies it to the store (SQLite, no fsync) and replies. Each writer has its own client ' +
      '(MQTT over TLS on loopback) and one request in flight. CPU = % of one core over the window.',
  );
}

function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}x` : 'n/a';
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(1) : 'n/a';
}

main().catch((e: unknown) => {
  console.error(`raft: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
