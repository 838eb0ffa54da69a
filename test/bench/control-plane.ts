// Benchmark: one real manager under 2,000 simulated agents (real Agent class, FakeRuntime): CPU, RSS, heartbeat p99.
import { fork, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RpcClient } from '../../manager/cli/rpc-client.js';
import type { LoopDelay } from './eld-preload.js';
import {
  CpuMeter,
  adminClient,
  fleetCli,
  goalLine,
  mb,
  percentile,
  poll,
  printTable,
  rssBytes,
  sleep,
  startBenchManager,
  stopProc,
  onInterrupt,
} from './lib.js';
import { Probe } from './probes.js';
import type { SimConfig, SimProgress } from './sim-agents.js';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 2000);
const PROBES = Number(process.env.BENCH_PROBES ?? 20);
const JOIN_RATE = Number(process.env.BENCH_JOIN_RATE ?? 50);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 30);
const RAMP_TIMEOUT_MS = Number(process.env.BENCH_RAMP_TIMEOUT_S ?? 600) * 1000;
const GOAL_CPU = 25;
const GOAL_RSS_MB = 300;
const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Ready nodes among those whose name starts with the prefix. */
async function readyCount(client: RpcClient, prefix: string): Promise<number> {
  const nodes = await client.call('node.ls', {});
  return nodes.filter((n) => n.name.startsWith(prefix) && n.status === 'ready').length;
}

function readLoopDelay(pid: number, file: string): Promise<LoopDelay | null> {
  return (async () => {
    await fs.rm(file, { force: true });
    process.kill(pid, 'SIGUSR2');
    for (let i = 0; i < 50; i++) {
      await sleep(100);
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as LoopDelay;
      } catch {
        // not written yet
      }
    }
    return null;
  })();
}

async function main(): Promise<void> {
  console.log(
    `control-plane: 1 manager (default heartbeat), ${AGENTS} simulated agents in another process, ${PROBES} heartbeat probes`,
  );
  const eldFile = path.join(os.tmpdir(), `fleet-bench-eld-${process.pid}.json`);
  const m = await startBenchManager({
    env: { FLEET_BENCH_ELD_FILE: eldFile },
    // BENCH_MANAGER_NODE_ARGS lets a profiling run add e.g. --cpu-prof to the manager.
    nodeArgs: [
      '--import',
      pathToFileURL(path.join(HERE, 'eld-preload.js')).href,
      ...(process.env.BENCH_MANAGER_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ],
  });
  const pid = m.proc.pid ?? 0;
  const probes: Probe[] = [];
  let client: RpcClient | null = null;
  let sim: ChildProcess | null = null;
  let progress: SimProgress | null = null;
  const teardown = async (): Promise<void> => {
    await Promise.all(probes.map((p) => p.stop()));
    await client?.close().catch(() => undefined);
    if (sim) await stopProc(sim);
    // The child removes its agents' data on SIGTERM, unless it had to be killed.
    const simRoot = progress?.root;
    if (simRoot) await fs.rm(simRoot, { recursive: true, force: true });
    await stopProc(m.proc);
    await fs.rm(m.dataDir, { recursive: true, force: true });
    await fs.rm(eldFile, { force: true });
  };
  const forget = onInterrupt(teardown);
  try {
    client = await adminClient(m);
    const heartbeatMs = (await client.call('cluster.info', {})).heartbeatMs;
    // Probes join first, on an idle manager, and beat from the moment they are connected.
    for (let i = 0; i < PROBES; i++) {
      const probe = await Probe.start(m.address, m.workerToken, i);
      probe.run(heartbeatMs, (i * heartbeatMs) / PROBES);
      probes.push(probe);
    }
    const simLog = path.join(path.dirname(m.log), `fleet-bench-sim-${process.pid}.log`);
    const logFd = openSync(simLog, 'a');
    const config: SimConfig = {
      manager: m.address,
      token: m.workerToken,
      count: AGENTS,
      ratePerSec: JOIN_RATE,
      inFlight: 32,
      labels: { sim: 'yes' },
    };
    sim = fork(path.join(HERE, 'sim-agents.js'), [], {
      env: { ...process.env, FLEET_SIM_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', logFd, logFd, 'ipc'],
    });
    closeSync(logFd);
    sim.on('message', (msg: SimProgress) => (progress = msg));
    const simPid = sim.pid ?? 0;

    // Phase 1: the ramp, until every simulated agent joined and the manager sees it ready.
    const rampCpu = new CpuMeter(pid);
    rampCpu.start();
    const t0 = performance.now();
    let lastPrint = 0;
    const c = client;
    const allReady = await poll(
      async () => {
        const p: SimProgress | null = progress;
        if (performance.now() - lastPrint > 10_000) {
          lastPrint = performance.now();
          console.log(
            `  ramp ${((performance.now() - t0) / 1000).toFixed(0)} s: joined ${p?.joined ?? 0}, connected ${p?.connected ?? 0}, join failures ${p?.joinFailures ?? 0}`,
          );
        }
        if (!p || p.started < AGENTS) return false;
        return (await readyCount(c, 'sim-')) >= AGENTS;
      },
      2_000,
      RAMP_TIMEOUT_MS,
    );
    const rampS = (performance.now() - t0) / 1000;
    const rampCpuPct = rampCpu.read();
    if (!allReady)
      console.log(
        `  not all agents became ready within ${RAMP_TIMEOUT_MS / 1000} s (sim log: ${simLog}; last error: ${(progress as SimProgress | null)?.lastError ?? ''})`,
      );

    // Phase 2: a service with one fake task per simulated agent, until all run.
    await sleep(5_000);
    const convergeCpu = new CpuMeter(pid);
    convergeCpu.start();
    await readLoopDelay(pid, eldFile);
    const t1 = performance.now();
    const created = await fleetCli(m, [
      'service',
      'create',
      '--detach',
      '--name',
      'sim',
      '--replicas',
      String(AGENTS),
      '--constraint',
      'node.labels.sim==yes',
      'fake/sim:1',
    ]);
    if (created.code !== 0) throw new Error(`service create failed: ${created.stderr.trim()}`);
    const converged = await poll(
      async () =>
        ((await c.call('service.ls', {})).find((s) => s.name === 'sim')?.replicas.running ?? 0) >=
        AGENTS,
      500,
      300_000,
    );
    const convergeS = (performance.now() - t1) / 1000;
    const convergeCpuPct = convergeCpu.read();
    const convergeLoop = await readLoopDelay(pid, eldFile);

    // Phase 3: the measured window, steady state with assignments in place.
    await sleep(5_000);
    probes.forEach((p) => p.reset());
    const cpu = new CpuMeter(pid);
    await readLoopDelay(pid, eldFile);
    cpu.start();
    const rss: number[] = [];
    const windowEnd = performance.now() + WINDOW_S * 1000;
    while (performance.now() < windowEnd) {
      rss.push(rssBytes(pid));
      await sleep(1_000);
    }
    const cpuPct = cpu.read();
    const loop = await readLoopDelay(pid, eldFile);
    const samples = probes.flatMap((p) => p.samples);
    const lost = probes.reduce((n, p) => n + p.lost, 0);
    const ready = await readyCount(c, 'sim-');
    const running =
      (await c.call('service.ls', {})).find((s) => s.name === 'sim')?.replicas.running ?? 0;
    const rssNow = rss[rss.length - 1] ?? 0;
    const rssMax = Math.max(0, ...rss);
    const p99 = percentile(samples, 99);
    const simRss = rssBytes(simPid);

    console.log('');
    printTable(
      [
        ['phase', 'seconds', 'manager CPU %', 'loop delay p99 ms', 'loop delay max ms', 'note'],
        [
          'ramp (join + connect)',
          rampS.toFixed(1),
          rampCpuPct.toFixed(1),
          '',
          '',
          `${AGENTS} agents at <= ${JOIN_RATE} joins/s`,
        ],
        [
          'converge 1 task per agent',
          convergeS.toFixed(1),
          convergeCpuPct.toFixed(1),
          fmt(convergeLoop?.p99Ms),
          fmt(convergeLoop?.maxMs),
          converged ? `${AGENTS}/${AGENTS} running` : 'did not converge in 300 s',
        ],
        [
          'steady window',
          String(WINDOW_S),
          cpuPct.toFixed(1),
          fmt(loop?.p99Ms),
          fmt(loop?.maxMs),
          `${ready}/${AGENTS} ready, ${running}/${AGENTS} running`,
        ],
      ],
      'lrrrrl',
    );
    console.log('');
    printTable(
      [
        ['steady-state figure', 'value', 'goal'],
        ['manager CPU (% of one core)', cpuPct.toFixed(1), `< ${GOAL_CPU}`],
        ['manager RSS MB (end / max)', `${mb(rssNow)} / ${mb(rssMax)}`, `< ${GOAL_RSS_MB}`],
        [
          '  of which JS heap used / external MB',
          loop ? `${mb(loop.memory.heapUsed)} / ${mb(loop.memory.external)}` : 'n/a',
          '',
        ],
        [
          'heartbeat p50 / p99 / max ms',
          `${fmt(percentile(samples, 50))} / ${fmt(p99)} / ${fmt(Math.max(...samples))}`,
          '',
        ],
        ['heartbeat samples (lost)', `${samples.length} (${lost})`, ''],
        ['manager event-loop delay p50 / p99 ms', `${fmt(loop?.p50Ms)} / ${fmt(loop?.p99Ms)}`, ''],
        ['nodes ready (simulated agents)', `${ready}/${AGENTS}`, `${AGENTS}`],
        ['simulation process RSS MB', mb(simRss), ''],
      ],
      'lrr',
    );
    console.log(
      'method: CPU = utime+stime delta from /proc/<pid>/stat over wall time; RSS = VmRSS sampled each second. ' +
        `Heartbeat latency = ${PROBES} probe nodes in this (idle) process send their heartbeats at QoS 1 and time ` +
        'publish -> PUBACK: the broker acks when the manager event loop reaches the message and runs the handler in ' +
        'the same turn, so it is the queueing + parsing delay of a heartbeat plus one loopback round trip. ' +
        'Loop delay = perf_hooks.monitorEventLoopDelay in the manager (preloaded with --import, reported on SIGUSR2). ' +
        `Agents: the real Agent class with FakeRuntime, ${AGENTS} in one child process.`,
    );
    const pass = cpuPct < GOAL_CPU && rssMax / 1024 / 1024 < GOAL_RSS_MB && ready >= AGENTS;
    goalLine(
      `manager < ${GOAL_CPU}% of one core and < ${GOAL_RSS_MB} MB with ${AGENTS} agents all ready`,
      pass,
    );
  } finally {
    await teardown();
    forget();
  }
}

function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(1);
}

main().catch((e: unknown) => {
  console.error(`control-plane: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
