// Benchmark: one real manager under 2,000 and then 10,000 simulated agents (real Agent class, FakeRuntime): readiness, convergence, CPU, RSS, heartbeat p99.
import os from 'node:os';
import { goalLine, mb, percentile, printTable } from './lib.js';
import { runPhase, type PhaseResult } from './control-plane-phase.js';

const PHASES = (process.env.BENCH_PHASES ?? process.env.BENCH_AGENTS ?? '2000,10000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const PER_PROCESS = Number(process.env.BENCH_PER_PROCESS ?? 2000);
const PROBES = Number(process.env.BENCH_PROBES ?? 20);
const JOIN_RATE = Number(process.env.BENCH_JOIN_RATE ?? 200);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 30);
const RAMP_TIMEOUT_MS = Number(process.env.BENCH_RAMP_TIMEOUT_S ?? 600) * 1000;
const CONVERGE_TIMEOUT_MS = Number(process.env.BENCH_CONVERGE_TIMEOUT_S ?? 300) * 1000;
const HOST = process.env.BENCH_HOST ?? '127.0.44.1';
/** The goals for one manager, whatever the number of agents. */
const GOAL = { cpuPct: 50, rssMb: 1024, readyS: 120, convergeS: 120 };

async function main(): Promise<void> {
  if (PHASES.length === 0) throw new Error('BENCH_PHASES names no agent count (e.g. 2000,10000)');
  console.log(
    `control-plane: 1 manager (default heartbeat) on ${HOST}; phases ${PHASES.join(', ')} simulated agents, ` +
      `${PER_PROCESS} per process, ${JOIN_RATE} joins/s in all, ${PROBES} heartbeat probes; ${os.cpus().length} cores`,
  );
  const results: PhaseResult[] = [];
  const failed: string[] = [];
  for (const agents of PHASES) {
    console.log(`phase ${agents}:`);
    // A phase that breaks down is reported as such; the phases that ran still print.
    const r = await runPhase({
      agents,
      perProcess: PER_PROCESS,
      joinRate: JOIN_RATE,
      probes: PROBES,
      windowS: WINDOW_S,
      rampTimeoutMs: RAMP_TIMEOUT_MS,
      convergeTimeoutMs: CONVERGE_TIMEOUT_MS,
      host: HOST,
    }).catch((e: unknown) => {
      failed.push(`${agents} agents: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    });
    if (r) results.push(r);
  }
  console.log('');
  if (results.length > 0) printResults(results);
  for (const f of failed) goalLine(`phase of ${f}`, false);
  if (failed.length > 0) process.exitCode = 1;
}

function printResults(results: PhaseResult[]): void {
  const col = (f: (r: PhaseResult) => string): string[] => results.map(f);
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  printTable(
    [
      ['figure', ...col((r) => `${r.agents} agents`), 'goal'],
      ['simulation processes', ...col((r) => String(r.processes)), ''],
      [
        'all ready after s',
        ...col((r) => `${fmt(r.readyS)} ${verdict(r.readyS !== null && r.readyS < GOAL.readyS)}`),
        `< ${GOAL.readyS}`,
      ],
      ['  manager CPU % during the ramp', ...col((r) => fmt(r.rampCpuPct)), ''],
      [
        'service of N tasks converged after s',
        ...col(
          (r) =>
            `${fmt(r.convergeS)} ${verdict(r.convergeS !== null && r.convergeS < GOAL.convergeS)}`,
        ),
        `< ${GOAL.convergeS}`,
      ],
      ['  manager CPU % while converging', ...col((r) => fmt(r.convergeCpuPct)), ''],
      [
        '  manager loop delay p99 / max ms',
        ...col((r) => pair(r.convergeLoop?.p99Ms, r.convergeLoop?.maxMs)),
        '',
      ],
      [
        'steady manager CPU % of one core',
        ...col((r) => `${fmt(r.cpuPct)} ${verdict(r.cpuPct < GOAL.cpuPct)}`),
        `< ${GOAL.cpuPct}`,
      ],
      [
        'steady manager RSS MB (end / max)',
        ...col(
          (r) => `${mb(r.rssEnd)} / ${mb(r.rssMax)} ${verdict(r.rssMax / 2 ** 20 < GOAL.rssMb)}`,
        ),
        `< ${GOAL.rssMb}`,
      ],
      [
        '  JS heap used / external MB',
        ...col((r) =>
          r.loop ? `${mb(r.loop.memory.heapUsed)} / ${mb(r.loop.memory.external)}` : 'n/a',
        ),
        '',
      ],
      [
        'heartbeat p50 / p99 / max ms',
        ...col(
          (r) =>
            `${fmt(percentile(r.heartbeats, 50))} / ${fmt(percentile(r.heartbeats, 99))} / ${fmt(Math.max(...r.heartbeats))}`,
        ),
        '',
      ],
      ['heartbeat samples (lost)', ...col((r) => `${r.heartbeats.length} (${r.lost})`), ''],
      ['manager loop delay p50 / p99 ms', ...col((r) => pair(r.loop?.p50Ms, r.loop?.p99Ms)), ''],
      ['nodes ready / tasks running', ...col((r) => `${r.ready} / ${r.running}`), 'N / N'],
      ['simulations CPU % of one core', ...col((r) => fmt(r.simCpuPct)), ''],
      ['simulations RSS MB', ...col((r) => mb(r.simRss)), ''],
      [`machine busy % of ${os.cpus().length} cores`, ...col((r) => fmt(r.machineBusyPct)), ''],
      ['machine load average 1/5/15 min', ...col((r) => r.loadAvg), ''],
      ['join failures (retried)', ...col((r) => String(r.joinFailures)), ''],
    ],
    'l' + 'r'.repeat(results.length + 1),
  );
  console.log(
    'method: each phase starts a fresh manager, then the simulated agents (the real Agent class with ' +
      'FakeRuntime) in child processes, each advertising its own 127.44.<k>.0/24. Ready = node ls shows ' +
      'every simulated node ready, timed from the first fork. Converge = `service create --replicas N ' +
      '--replicas-max-per-node 1` until service ls counts N running. Steady window (after converging): ' +
      `${WINDOW_S} s; CPU = utime+stime delta from /proc/<pid>/stat over wall time; RSS = VmRSS each second. ` +
      `Heartbeat latency = ${PROBES} probe nodes in this (idle) process beat at QoS 1 and time publish -> PUBACK ` +
      '(queueing and parsing in the manager plus one loopback round trip over TLS). The simulations share the ' +
      "machine's cores with the manager: read the manager's figures beside the machine's load.",
  );
  for (const r of results) {
    const pass =
      r.cpuPct < GOAL.cpuPct &&
      r.rssMax / 2 ** 20 < GOAL.rssMb &&
      r.readyS !== null &&
      r.readyS < GOAL.readyS &&
      r.convergeS !== null &&
      r.convergeS < GOAL.convergeS;
    goalLine(
      `${r.agents} agents: all ready < ${GOAL.readyS} s, ${r.agents} tasks converged < ${GOAL.convergeS} s, manager < ${GOAL.cpuPct}% of one core and < ${GOAL.rssMb} MB`,
      pass,
    );
    if (r.lastError) console.log(`  ${r.agents}: last simulation error: ${r.lastError}`);
  }
}

function fmt(v: number | null | undefined): string {
  return v === undefined || v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(1);
}

const pair = (a: number | undefined, b: number | undefined): string => `${fmt(a)} / ${fmt(b)}`;

main().catch((e: unknown) => {
  console.error(`control-plane: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
