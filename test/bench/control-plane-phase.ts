// One control-plane benchmark phase: a fresh manager, N simulated agents over several processes, ramp, converge and a steady window.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RpcClient } from '../../manager/cli/rpc-client.js';
import type { ManagerProc } from '../helpers/cluster.js';
import type { LoopDelay } from './eld-preload.js';
import {
  CpuMeter,
  adminClient,
  cpuSeconds,
  fleetCli,
  onInterrupt,
  poll,
  rssBytes,
  sleep,
  startBenchManager,
  stopProc,
} from './lib.js';
import { Probe } from './probes.js';
import type { SimConfig, SimProgress } from './sim-agents.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface PhaseOptions {
  agents: number;
  /** Simulated agents per child process; each process advertises its own 127.44.<k>.0/24. */
  perProcess: number;
  /** Joins per second over all processes. */
  joinRate: number;
  probes: number;
  windowS: number;
  rampTimeoutMs: number;
  convergeTimeoutMs: number;
  /** Loopback address the manager listens on. */
  host: string;
}

export interface PhaseResult {
  agents: number;
  processes: number;
  readyS: number | null;
  ready: number;
  rampCpuPct: number;
  convergeS: number | null;
  running: number;
  convergeCpuPct: number;
  convergeLoop: LoopDelay | null;
  cpuPct: number;
  rssEnd: number;
  rssMax: number;
  loop: LoopDelay | null;
  heartbeats: number[];
  lost: number;
  /** Every simulation process together, % of one core over the steady window. */
  simCpuPct: number;
  simRss: number;
  /** The whole machine over the steady window: busy % of all its cores, and the load average. */
  machineBusyPct: number;
  loadAvg: string;
  joinFailures: number;
  lastError: string;
}

/** Runs one phase start to finish and removes everything it started, also on failure. */
export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  const eldFile = path.join(os.tmpdir(), `fleet-bench-eld-${process.pid}-${o.agents}.json`);
  const m = await startBenchManager({
    host: o.host,
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
  const sims: { proc: ChildProcess; progress: SimProgress | null }[] = [];
  let client: RpcClient | null = null;
  const teardown = async (): Promise<void> => {
    await Promise.all(probes.map((p) => p.stop()));
    await client?.close().catch(() => undefined);
    await Promise.all(sims.map((s) => stopProc(s.proc)));
    // A child removes its agents' data on SIGTERM, unless it had to be killed.
    for (const s of sims)
      if (s.progress?.root) await fs.rm(s.progress.root, { recursive: true, force: true });
    await stopProc(m.proc);
    await fs.rm(m.dataDir, { recursive: true, force: true });
    await fs.rm(eldFile, { force: true });
  };
  const forget = onInterrupt(teardown);
  try {
    client = await adminClient(m);
    const c = client;
    const heartbeatMs = (await c.call('cluster.info', {})).heartbeatMs;
    // Probes join first, on an idle manager, and beat from the moment they are connected.
    for (let i = 0; i < o.probes; i++) {
      const probe = await Probe.start(m.address, m.workerToken, i, `127.44.0.${i + 1}`);
      probe.run(heartbeatMs, (i * heartbeatMs) / o.probes);
      probes.push(probe);
    }
    const processes = Math.ceil(o.agents / o.perProcess);
    const simLog = path.join(path.dirname(m.log), `fleet-bench-sim-${process.pid}-${o.agents}.log`);
    const t0 = performance.now();
    const rampCpu = new CpuMeter(pid);
    rampCpu.start();
    for (let k = 0; k < processes; k++) {
      const count = Math.min(o.perProcess, o.agents - k * o.perProcess);
      sims.push({ proc: forkSim(m, simLog, k, count, o), progress: null });
    }
    sims.forEach((s) => s.proc.on('message', (msg: SimProgress) => (s.progress = msg)));
    const totals = (): SimProgress => sumProgress(sims.map((s) => s.progress));

    // The ramp, until every simulated agent joined and the manager sees it ready.
    let lastPrint = 0;
    let ready = 0;
    const allReady = await poll(
      async () => {
        const p = totals();
        if (performance.now() - lastPrint > 10_000) {
          lastPrint = performance.now();
          console.log(
            `  ${o.agents}: ramp ${((performance.now() - t0) / 1000).toFixed(0)} s: joined ${p.joined}, connected ${p.connected}, ready ${ready}, join failures ${p.joinFailures}`,
          );
        }
        if (p.started < o.agents) return false;
        ready = await readyCount(c);
        return ready >= o.agents;
      },
      2_000,
      o.rampTimeoutMs,
    );
    const readyS = allReady ? (performance.now() - t0) / 1000 : null;
    const rampCpuPct = rampCpu.read();
    if (!allReady)
      console.log(
        `  ${o.agents}: not all agents ready (sim log: ${simLog}; ${totals().lastError})`,
      );

    // A service with one task per simulated agent, until all run.
    await sleep(5_000);
    const convergeCpu = new CpuMeter(pid);
    convergeCpu.start();
    await readLoopDelay(pid, eldFile);
    const t1 = performance.now();
    await createService(m, o.agents);
    const running = async (): Promise<number> =>
      (await c.call('service.ls', {})).find((s) => s.name === 'sim')?.replicas.running ?? 0;
    const converged = await poll(
      async () => (await running()) >= o.agents,
      1_000,
      o.convergeTimeoutMs,
    );
    const convergeS = converged ? (performance.now() - t1) / 1000 : null;
    const convergeCpuPct = convergeCpu.read();
    const convergeLoop = await readLoopDelay(pid, eldFile);

    // The measured window: steady state with the assignments in place.
    await sleep(5_000);
    const steady = await steadyWindow(pid, eldFile, o.windowS, sims, probes);
    return {
      agents: o.agents,
      processes,
      readyS,
      ready: await readyCount(c),
      rampCpuPct,
      convergeS,
      running: await running(),
      convergeCpuPct,
      convergeLoop,
      ...steady,
      joinFailures: totals().joinFailures,
      lastError: totals().lastError,
    };
  } finally {
    await teardown();
    forget();
  }
}

type Steady = Pick<
  PhaseResult,
  | 'cpuPct'
  | 'rssEnd'
  | 'rssMax'
  | 'loop'
  | 'heartbeats'
  | 'lost'
  | 'simCpuPct'
  | 'simRss'
  | 'machineBusyPct'
  | 'loadAvg'
>;

/** The manager's CPU, RSS and heartbeat latency over the window, beside the sims' and the machine's CPU. */
async function steadyWindow(
  pid: number,
  eldFile: string,
  windowS: number,
  sims: { proc: ChildProcess }[],
  probes: Probe[],
): Promise<Steady> {
  probes.forEach((p) => p.reset());
  const simPids = sims.map((s) => s.proc.pid ?? 0);
  const cpu = new CpuMeter(pid);
  await readLoopDelay(pid, eldFile);
  const simCpu0 = simPids.reduce((n, p) => n + safeCpu(p), 0);
  const machine0 = machineTicks();
  const w0 = performance.now();
  cpu.start();
  const rss: number[] = [];
  const windowEnd = performance.now() + windowS * 1000;
  while (performance.now() < windowEnd) {
    rss.push(rssBytes(pid));
    await sleep(1_000);
  }
  const cpuPct = cpu.read();
  const wall = (performance.now() - w0) / 1000;
  const simCpuPct = ((simPids.reduce((n, p) => n + safeCpu(p), 0) - simCpu0) / wall) * 100;
  const machine1 = machineTicks();
  const total = machine1.total - machine0.total;
  const machineBusyPct = total > 0 ? ((total - (machine1.idle - machine0.idle)) / total) * 100 : 0;
  const loop = await readLoopDelay(pid, eldFile);
  return {
    cpuPct,
    rssEnd: rss[rss.length - 1] ?? 0,
    rssMax: Math.max(0, ...rss),
    loop,
    heartbeats: probes.flatMap((p) => p.samples),
    lost: probes.reduce((n, p) => n + p.lost, 0),
    simCpuPct,
    simRss: simPids.reduce((n, p) => n + rssBytes(p), 0),
    machineBusyPct,
    loadAvg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

/** `service create` of one task per agent; a busy manager may take more than one try. */
async function createService(m: ManagerProc, agents: number): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const created = await fleetCli(m, [
      ...['service', 'create', '--detach', '--name', 'sim', '--replicas', String(agents)],
      ...['--replicas-max-per-node', '1', '--constraint', 'node.labels.sim==yes', 'fake/sim:1'],
    ]);
    last = created.stderr.trim();
    // A try whose answer was lost may have made it: the name is then taken.
    if (created.code === 0 || (attempt > 0 && /already exists|is taken/i.test(last))) return;
    await sleep(2_000);
  }
  throw new Error(`service create failed: ${last}`);
}

function forkSim(
  m: { address: string; workerToken: string },
  log: string,
  k: number,
  count: number,
  o: PhaseOptions,
): ChildProcess {
  const processes = Math.ceil(o.agents / o.perProcess);
  const config: SimConfig = {
    manager: m.address,
    token: m.workerToken,
    count,
    ratePerSec: Math.max(1, Math.round(o.joinRate / processes)),
    inFlight: 32,
    labels: { sim: 'yes' },
    firstIndex: k * o.perProcess,
    addressPrefix: `127.44.${k + 1}`,
  };
  const fd = openSync(log, 'a');
  const proc = fork(path.join(HERE, 'sim-agents.js'), [], {
    env: { ...process.env, FLEET_SIM_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  return proc;
}

function sumProgress(all: (SimProgress | null)[]): SimProgress {
  const sum: SimProgress = {
    type: 'progress',
    root: '',
    wanted: 0,
    joined: 0,
    started: 0,
    connected: 0,
    joinFailures: 0,
    lastError: '',
    fakeStarts: 0,
  };
  for (const p of all) {
    if (!p) continue;
    sum.wanted += p.wanted;
    sum.joined += p.joined;
    sum.started += p.started;
    sum.connected += p.connected;
    sum.joinFailures += p.joinFailures;
    sum.fakeStarts += p.fakeStarts;
    if (p.lastError) sum.lastError = p.lastError;
  }
  return sum;
}

/** Ready simulated nodes as the manager lists them. */
async function readyCount(client: RpcClient): Promise<number> {
  const nodes = await client.call('node.ls', {});
  return nodes.filter((n) => n.name.startsWith('sim-') && n.status === 'ready').length;
}

function safeCpu(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0;
  }
}

/** All cores' ticks from /proc/stat: total and idle (idle + iowait). */
function machineTicks(): { total: number; idle: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: (f[3] ?? 0) + (f[4] ?? 0) };
}

/** The manager's event-loop delay since the last read (it writes it on SIGUSR2). */
async function readLoopDelay(pid: number, file: string): Promise<LoopDelay | null> {
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
}
