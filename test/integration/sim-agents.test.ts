// `fleet sim agents`: 30 simulated boards join a real manager, run a service, come back with the same identities after a restart, and leave nothing behind.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  cliJson,
  cliOk,
  readLog,
  runningTasks,
  spawnFleet,
  startManager,
  stopProc,
  tempDir,
  type ManagerProc,
  type NodeJson,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { FILL_DISK_REFUSAL } from '../../agent/sim/chaos-host.js';
import { SimFleet } from '../../agent/sim/fleet.js';
import { systemClock } from '../../shared/clock.js';
import { createLogger } from '../../shared/log.js';

const MANAGER_HOST = '127.0.43.10';
const CHAOS_MANAGER_HOST = '127.0.43.11';
const ADDRESS_BASE = '127.43.1.0';
const BOARDS = 30;

interface ReadyLine {
  count: number;
  joined: number;
  reused: number;
  connected: number;
  failed: number;
}

/** The simulator as the soak runner starts it: a child process, told where to write when ready. */
function startSim(m: ManagerProc, dir: string, run: number, extra: string[]) {
  const readyFile = path.join(dir, `ready-${run}.json`);
  const log = path.join(dir, `sim-${run}.log`);
  const proc = spawnFleet(
    ['sim', 'agents', String(BOARDS), '--address-base', ADDRESS_BASE].concat([
      '--data-dir',
      path.join(dir, 'boards'),
      '--ready-file',
      readyFile,
      ...extra,
    ]),
    log,
  );
  const ready = waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`sim exited: ${await readLog(log)}`);
      const text = await fs.readFile(readyFile, 'utf8').catch(() => '');
      return text ? (JSON.parse(text) as ReadyLine) : null;
    },
    { what: `${BOARDS} simulated boards connected`, timeoutMs: 30_000, intervalMs: 200 },
  );
  return { proc, log, ready };
}

async function sigterm(proc: ChildProcess): Promise<number | null> {
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  proc.kill('SIGTERM');
  const [code] = await exited;
  return code;
}

async function simNodes(m: ManagerProc, wantReady: number): Promise<NodeJson[]> {
  return waitFor(
    async () => {
      const nodes = (await cliJson<NodeJson[]>(m, ['node', 'ls'])).filter((n) => !n.manager);
      return nodes.filter((n) => n.status === 'ready').length === wantReady ? nodes : null;
    },
    { what: `${wantReady} ready simulated nodes`, timeoutMs: 30_000, intervalMs: 300 },
  );
}

test('simulated boards join, run a service, rejoin with their identities after a restart, and stop cleanly', async (t) => {
  const dir = tempDir('sim');
  const m = await startManager({ host: MANAGER_HOST });
  const procs: ChildProcess[] = [];
  t.after(async () => {
    for (const p of procs) await stopProc(p);
    await stopProc(m.proc);
    await fs.rm(dir, { recursive: true, force: true });
  });

  const first = startSim(m, dir, 1, ['--manager', m.address, '--token', m.workerToken, '--keep']);
  procs.push(first.proc);
  const ready1 = await first.ready;
  assert.deepEqual(
    { joined: ready1.joined, reused: ready1.reused, connected: ready1.connected },
    { joined: BOARDS, reused: 0, connected: BOARDS },
  );
  const nodes = await simNodes(m, BOARDS);
  assert.equal(nodes.length, BOARDS);
  assert.ok(nodes.every((n) => n.labels['fleet.sim'] === 'true' && /^sim-00\d\d$/.test(n.name)));
  assert.equal(new Set(nodes.map((n) => n.address)).size, BOARDS, 'an address each');
  assert.ok(nodes.every((n) => n.address.startsWith('127.43.1.')));

  await cliOk(m, [
    'service',
    'create',
    '--name',
    'simweb',
    '--replicas',
    String(BOARDS),
    '--detach',
    'sim/web:1',
  ]);
  const running = async () =>
    waitFor(async () => (await runningTasks(m, 'simweb')).length === BOARDS, {
      what: `${BOARDS} running tasks`,
      timeoutMs: 30_000,
      intervalMs: 300,
    });
  await running();

  assert.equal(await sigterm(first.proc), 0, await readLog(first.log));
  const kept = await fs.readdir(path.join(dir, 'boards'));
  assert.equal(kept.length, BOARDS, '--keep leaves every board folder');

  // Neither manager nor token this time: the boards come back with the identities they kept,
  // dialling the managers those name.
  const second = startSim(m, dir, 2, []);
  procs.push(second.proc);
  const ready2 = await second.ready;
  assert.deepEqual({ joined: ready2.joined, reused: ready2.reused }, { joined: 0, reused: BOARDS });
  const again = await simNodes(m, BOARDS);
  assert.deepEqual(
    again.map((n) => n.id).sort(),
    nodes.map((n) => n.id).sort(),
    'the same nodes, no new ones',
  );
  await running();

  assert.equal(await sigterm(second.proc), 0, await readLog(second.log));
  assert.equal(
    existsSync(path.join(dir, 'boards')),
    false,
    'the data dir is removed without --keep',
  );
  assert.match(await readLog(second.log), new RegExp(`${BOARDS} simulated agents connected`));
});

test('a simulated board restarts its agent with its workloads kept, and its engine with its workloads ended', async (t) => {
  const root = tempDir('sim-chaos');
  // A long heartbeat period: the board must come back well within its drop grace.
  const m = await startManager({ host: CHAOS_MANAGER_HOST, heartbeat: '10s' });
  const fleet = new SimFleet({
    count: 2,
    prefix: 'simc',
    addresses: { kind: 'base', base: 0x7f2b0200 }, // 127.43.2.0
    root,
    managers: [m.address],
    token: m.workerToken,
    labels: { 'fleet.sim': 'true' },
    insecure: false,
    allowChaos: true,
    joinRate: 50,
    clock: systemClock,
    logger: createLogger('sim', { level: 'warn' }),
  });
  t.after(async () => {
    await fleet.stop();
    await stopProc(m.proc);
    await fs.rm(root, { recursive: true, force: true });
  });
  await fleet.ramp();
  await simNodes(m, 2);
  await cliOk(m, ['service', 'create', '--name', 'simc', '--replicas', '4', '--detach', 'sim/c:1']);
  const [board] = fleet.boards;
  assert.ok(board?.nodeId);
  const nodeId = board.nodeId;
  const runningHere = () => [...board.runtime.workloads.values()].filter((w) => w.running);
  await waitFor(
    async () => (await runningTasks(m, 'simc')).length === 4 && runningHere().length > 0,
    {
      what: 'the service running, some of it on the first board',
      timeoutMs: 20_000,
    },
  );
  const before = runningHere()
    .map((w) => w.runtimeId)
    .sort();
  const startsBefore = board.runtime.starts;

  // A crash of the agent alone, back before the manager would call the board down (one
  // heartbeat period, 10 s, after the drop): the new agent finds the workloads and keeps them.
  board.chaosHost.restartAgent(true, 1_000);
  await waitFor(() => !board.connected, { what: 'the agent stopped', timeoutMs: 5_000 });
  const status = async () =>
    (await cliJson<NodeJson[]>(m, ['node', 'ls'])).find((n) => n.id === nodeId)?.status;
  await waitFor(async () => board.connected && (await status()) === 'ready', {
    what: 'the board back',
    timeoutMs: 20_000,
  });
  assert.deepEqual(
    runningHere()
      .map((w) => w.runtimeId)
      .sort(),
    before,
    'the same workloads',
  );
  assert.equal(board.runtime.starts, startsBefore, 'nothing started again');

  // The engine restarts: every workload of that board ends; the service comes back to 4.
  await board.chaosHost.restartEngine(1_000);
  for (const id of before) assert.equal(board.runtime.workloads.get(id)?.running ?? false, false);
  await waitFor(async () => (await runningTasks(m, 'simc')).length === 4, {
    what: 'the service running again',
    timeoutMs: 30_000,
  });
  assert.equal(board.chaosHost.refuses('fill-disk'), FILL_DISK_REFUSAL);

  await fleet.stop();
  assert.ok(
    fleet.boards.every((b) => b.runtime.workloads.size === 0),
    'no workload left',
  );
});
