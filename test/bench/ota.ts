// Benchmark: a fleet-wide agent upgrade of 3 real supervised agents (disconnection, task restarts, bytes per board) and of 500 simulated agents.
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { NodeView } from '../../shared/api.js';
import { FLEET_VERSION } from '../../shared/version.js';
import { cliJson, runningTasks, tempDir, type ManagerProc } from '../helpers/cluster.js';
import { killTasksOf } from '../helpers/processes.js';
import {
  agentPids,
  bundleRelease,
  dataDirOf,
  startSupervised,
  stopBoard,
  type BoardSpec,
} from '../helpers/supervised-boards.js';
import { UpgradingAgents } from '../helpers/upgrading-agents.js';
import {
  adminClient,
  fleetCli,
  goalLine,
  onInterrupt,
  percentile,
  poll,
  printTable,
  startBenchManager,
  stopProc,
} from './lib.js';
import { ConnectionSampler } from './ota-sampler.js';

const NEXT = '0.9.2';
const HOST = '127.0.26.1';
const BOARDS = ['127.0.26.2', '127.0.26.3', '127.0.26.4'];
const SIMULATED = Number(process.env.FLEET_BENCH_OTA_SIMULATED ?? 500);
const SIM_SWITCH_MS = 1_000;
/**
 * Simulated agents upgraded at once. They share this one process: 500 bundles fetched at once
 * starve their heartbeats and keepalives here, which no board would suffer.
 */
const SIM_PARALLELISM = Number(process.env.FLEET_BENCH_OTA_PARALLELISM ?? 50);
const SERVICE = 'ota-bench-steady';
const TASK = (file: string): string =>
  `require('fs').appendFileSync(${JSON.stringify(file)}, process.pid + '\\n'); setInterval(() => {}, 1000);`;

const lines = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

async function cliOk(m: ManagerProc, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await fleetCli(m, args, timeoutMs);
  if (r.code !== 0) throw new Error(`fleet ${args.join(' ')}: ${r.stderr.trim() || r.stdout}`);
  return r.stdout;
}

async function readyNodes(m: ManagerProc, names: string[], version: string): Promise<boolean> {
  const nodes = await cliJson<NodeView[]>(m, ['node', 'ls']);
  return names.every((n) =>
    nodes.some((x) => x.name === n && x.status === 'ready' && x.agentVersion === version),
  );
}

/** Three supervised agents running a task each, upgraded one at a time with node upgrade --all. */
async function realAgents(m: ManagerProc, dir: string, bundle: string): Promise<boolean> {
  const bundleBytes = statSync(bundle).size;
  const boards: BoardSpec[] = BOARDS.map((address, i) => ({
    dir,
    name: `ota-bench-${i + 1}`,
    address,
    manager: m.address,
    token: m.workerToken,
    monitor: '30s',
  }));
  const sups = boards.map((b) => startSupervised(b));
  const starts = path.join(dir, 'task-starts');
  let sampler: ConnectionSampler | undefined;
  try {
    const names = boards.map((b) => b.name);
    if (!(await poll(() => readyNodes(m, names, FLEET_VERSION), 250, 60_000)))
      throw new Error('the 3 supervised agents did not become ready');
    await cliOk(
      m,
      ['service', 'create', '--name', SERVICE, '--mode', 'global', '--detach'].concat([
        'busybox',
        '--',
        process.execPath,
        '-e',
        TASK(starts),
      ]),
    );
    if (!(await poll(async () => lines(starts).length === 3, 250, 30_000)))
      throw new Error('the 3 tasks did not start');
    const before = (await runningTasks(m, SERVICE)).map((x) => x.id).sort();
    const oldPids = boards.map((b) => agentPids(dataDirOf(b))[0] ?? 0);
    const sampled = new ConnectionSampler(Number(m.address.split(':')[1]), boards.map(dataDirOf));
    sampler = sampled;
    await sampled.start();
    const t0 = performance.now();
    await cliOk(
      m,
      ['node', 'upgrade', '--all', '--version', NEXT, '--parallelism', '1', '--monitor', '2s'],
      300_000,
    );
    const totalS = (performance.now() - t0) / 1000;
    await poll(async () => boards.every((b) => agentPids(dataDirOf(b)).length === 1), 100, 10_000);
    await sampled.stopAndWait();
    const after = (await runningTasks(m, SERVICE)).map((x) => x.id).sort();
    const restarts =
      lines(starts).length - 3 + (JSON.stringify(after) === JSON.stringify(before) ? 0 : 1);
    const rows = [
      ['board', 'old pid', 'new pid', 'disconnected (s)', 'bytes received', 'x bundle'],
    ];
    const gaps: number[] = [];
    const ratios: number[] = [];
    boards.forEach((b, i) => {
      const oldPid = oldPids[i] ?? 0;
      const newPid = agentPids(dataDirOf(b))[0] ?? 0;
      const gap = sampled.gapMs(oldPid, newPid) / 1000;
      const bytes = sampled.bytesReceived(oldPid);
      gaps.push(gap);
      ratios.push(bytes / bundleBytes);
      rows.push([
        b.name,
        String(oldPid),
        String(newPid),
        gap.toFixed(2),
        String(bytes),
        (bytes / bundleBytes).toFixed(3),
      ]);
    });
    console.log(`\n3 real supervised agents, node upgrade --all --parallelism 1 --monitor 2s:`);
    printTable(rows, 'lrrrrr');
    console.log(
      `total ${totalS.toFixed(1)} s; bundle ${bundleBytes} bytes; task starts ${lines(starts).length} (3 before)`,
    );
    console.log(
      "(disconnection: from the close of the old agent's connection (ss -E) to the new one's first sample; samples every 50 ms)",
    );
    console.log(
      '(bytes: TCP bytes the old agent received from the upgrade order until its connection closed, all traffic included)',
    );
    const okGap = gaps.every((g) => g < 5);
    const okBytes = ratios.every((r) => r <= 1.1);
    goalLine(
      `agent switch < 5 s of disconnection per board (worst ${Math.max(...gaps).toFixed(2)} s)`,
      okGap,
    );
    goalLine(`no task restart (${restarts})`, restarts === 0);
    goalLine(
      `bytes per board <= 1.1x the bundle (worst ${Math.max(...ratios).toFixed(3)}x)`,
      okBytes,
    );
    return okGap && okBytes && restarts === 0;
  } finally {
    await sampler?.stopAndWait();
    await fleetCli(m, ['service', 'rm', SERVICE]).catch(() => undefined);
    for (const pid of lines(starts).map(Number)) killQuietlyPid(pid);
    for (const [i, b] of boards.entries()) await stopBoard(b, sups[i]);
  }
}

function killQuietlyPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** SIMULATED agents that download the bundle over the blob channel and fake the restart. */
async function simulatedAgents(m: ManagerProc, bundleBytes: number): Promise<void> {
  const agents = new UpgradingAgents(SIM_SWITCH_MS, true);
  try {
    const nodes = Array.from({ length: SIMULATED }, (_, i) => ({
      name: `ota-sim-${String(i + 1).padStart(3, '0')}`,
      address: `127.0.26.${10 + (i % 240)}`,
    }));
    const tj = performance.now();
    const lanes = 10;
    await Promise.all(
      Array.from({ length: lanes }, (_, k) =>
        agents.start(
          m.address,
          m.workerToken,
          nodes.filter((_, i) => i % lanes === k),
          FLEET_VERSION,
        ),
      ),
    );
    console.log(
      `\n${SIMULATED} simulated agents joined in ${((performance.now() - tj) / 1000).toFixed(1)} s`,
    );
    const client = await adminClient(m);
    try {
      const t0 = performance.now();
      await cliOk(m, [
        'node',
        'upgrade',
        '--all',
        '--version',
        NEXT,
        '--parallelism',
        String(SIM_PARALLELISM),
        '--monitor',
        '1s',
        '--download-timeout',
        '2m',
        '--failure-action',
        'continue',
        '--detach',
      ]);
      const done = await poll(
        async () => {
          const r = (await client.call('upgrade.ls', {}))[0];
          return r && r.state !== 'updating' ? r : null;
        },
        500,
        600_000,
      );
      const totalS = (performance.now() - t0) / 1000;
      const bytes = agents.agents.map((a) => a.blobBytes);
      const switched = agents.agents.filter((a) => a.version === NEXT).length;
      console.log(
        `node upgrade --all --parallelism ${SIM_PARALLELISM} --monitor 1s (fake restart ${SIM_SWITCH_MS} ms):`,
      );
      printTable(
        [
          [
            'agents',
            'switched',
            'rollout',
            'total (s)',
            'bytes/agent p50',
            'max',
            'x bundle (max)',
          ],
          [
            String(SIMULATED),
            String(switched),
            done?.state ?? 'timed out',
            totalS.toFixed(1),
            String(percentile(bytes, 50)),
            String(Math.max(...bytes)),
            (Math.max(...bytes) / bundleBytes).toFixed(3),
          ],
        ],
        'rrlrrrr',
      );
      console.log(
        '(bytes: blob-channel payloads each agent received: the bundle and the frame headers)',
      );
      goalLine(`every simulated agent switched (${switched}/${SIMULATED})`, switched === SIMULATED);
      goalLine(`bytes per agent <= 1.1x the bundle`, Math.max(...bytes) <= 1.1 * bundleBytes);
    } finally {
      await client.close();
    }
  } finally {
    await agents.stop();
  }
}

async function main(): Promise<void> {
  const dir = tempDir('bench-ota');
  const m = await startBenchManager({ host: HOST, heartbeat: '500ms' });
  const off = onInterrupt(async () => {
    await stopProc(m.proc);
    for (const a of BOARDS) await killTasksOf(a);
  });
  try {
    const bundle = await bundleRelease(dir, NEXT);
    await cliOk(m, ['agent', 'release', 'push', bundle]);
    console.log(
      `release ${NEXT}: ${statSync(bundle).size} bytes; agents start on ${FLEET_VERSION}`,
    );
    await realAgents(m, dir, bundle);
    await simulatedAgents(m, statSync(bundle).size);
  } finally {
    off();
    await stopProc(m.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : String(e));
  process.exitCode = 1;
});
