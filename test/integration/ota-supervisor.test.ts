// The upgrade supervisor with real processes: commit a healthy release, fall back from bad ones, survive kill -9 anywhere.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { FACTORY, type OtaState } from '../../agent/ota/ota-state.js';
import { loadState } from '../../agent/ota/ota-state-file.js';
import type { SupervisorPoint } from '../../agent/ota/supervisor.js';
import {
  alive,
  destroyBoard,
  healthyReport,
  killQuietly,
  makeBoard,
  readState,
  recordedChild,
  requestSwitch,
  runs,
  stageFake,
  startSupervisor,
  switchAnswer,
  switchesAnswered,
  type Behaviour,
  type Board,
  type SupervisorProc,
} from '../helpers/ota-board.js';
import { waitFor } from '../helpers/wait.js';

/** Short, so a release that hangs costs little; long enough for a loaded machine to start node. */
const MONITOR_MS = 3_000;
const SETTLE_MS = 20_000;
const KILL_TRIALS = 24;

interface Settled {
  state: OtaState;
  pid: number;
  version: string;
}

/** The board runs one release that reported healthy, the one state.json names, with no trial. */
async function settled(b: Board, what: string): Promise<Settled> {
  return waitFor(
    () => {
      if (!switchesAnswered(b)) return undefined;
      const state = readState(b);
      const pid = recordedChild(b);
      if (state.trial || pid === undefined || !alive(pid)) return undefined;
      const report = healthyReport(b, pid);
      const want = state.current === FACTORY ? b.factory.version : state.current;
      if (report?.version !== want) return undefined;
      return { state, pid, version: report.version };
    },
    { timeoutMs: SETTLE_MS, intervalMs: 20, what },
  );
}

function onlyAlive(b: Board): number[] {
  return runs(b)
    .filter((r) => alive(r.pid))
    .map((r) => r.pid);
}

/** Stops the supervisor with SIGTERM: it stops its agent and exits with the agent's code. */
async function stopSupervisor(b: Board, sup: SupervisorProc, pid: number): Promise<void> {
  sup.proc.kill('SIGTERM');
  const exit = await sup.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, 'the supervisor exits cleanly');
  assert.ok(!alive(pid), 'the agent stopped with it');
  assert.deepEqual(onlyAlive(b), []);
}

test('a healthy new release is committed, the old agent stopped, and SIGTERM stops both', async (t) => {
  const b = makeBoard();
  const sup = startSupervisor(b, { monitorMs: MONITOR_MS });
  t.after(() => destroyBoard(b, sup));
  const first = await settled(b, 'the factory release running');
  assert.equal(first.version, '1.0.0');
  await stageFake(b, '2.0.0', 'healthy');
  const asked = Date.now();
  requestSwitch(b, '2.0.0');
  const second = await waitFor(
    async () => {
      const s = await settled(b, 'the new release');
      return s.state.current === '2.0.0' ? s : undefined;
    },
    { timeoutMs: SETTLE_MS, what: 'release 2.0.0 committed' },
  );
  const committedAt = second.state.committedAt ?? 0;
  t.diagnostic(`switch asked → committed in ${committedAt - asked} ms`);
  assert.equal(second.state.previous, FACTORY);
  assert.equal(second.state.lastFailure, undefined);
  assert.ok(!alive(first.pid), 'the old agent was stopped');
  assert.deepEqual(onlyAlive(b), [second.pid]);
  assert.deepEqual(readdirSync(path.join(b.dataDir, 'ota', 'releases')), ['2.0.0']);
  await stopSupervisor(b, sup, second.pid);
});

const FAILURES: [Behaviour, RegExp][] = [
  ['exit', /^release 2\.0\.0 exited with code 3 before it reported healthy$/],
  ['hang', /^release 2\.0\.0 did not report healthy within 3000 ms$/],
  [
    'self-check-failed',
    /^release 2\.0\.0 failed its self-check: the task runtime does not answer$/,
  ],
];

for (const [behaviour, reason] of FAILURES) {
  test(`a new release that does "${behaviour}" is left for the old one, with the reason`, async (t) => {
    const b = makeBoard();
    const sup = startSupervisor(b, { monitorMs: MONITOR_MS });
    t.after(() => destroyBoard(b, sup));
    const before = await settled(b, 'the factory release running');
    await stageFake(b, '2.0.0', behaviour);
    requestSwitch(b, '2.0.0');
    const after = await waitFor(
      async () => {
        const s = await settled(b, 'the factory release back');
        return s.state.lastFailure ? s : undefined;
      },
      { timeoutMs: SETTLE_MS, what: 'a fall back to the factory release' },
    );
    assert.equal(after.state.current, FACTORY);
    assert.equal(after.version, '1.0.0');
    assert.notEqual(after.pid, before.pid, 'a fresh start of the old release');
    assert.equal(after.state.lastFailure?.version, '2.0.0');
    assert.match(after.state.lastFailure?.reason ?? '', reason);
    const started = runs(b).find((r) => r.version === '2.0.0');
    assert.ok(started, 'the new release did start');
    const fellBackAt = after.state.lastFailure?.at ?? 0;
    const healthyAt = healthyReport(b, after.pid)?.at ?? 0;
    t.diagnostic(
      `${behaviour}: fall back decided ${fellBackAt - started.at} ms after the new release ` +
        `started; old release healthy again ${healthyAt - fellBackAt} ms later`,
    );
    assert.ok(fellBackAt - started.at < MONITOR_MS + 1_000, 'within the monitor period');
    assert.deepEqual(onlyAlive(b), [after.pid]);
    await stopSupervisor(b, sup, after.pid);
  });
}

test('a staged release changed on disk is refused, and the running agent is left alone', async (t) => {
  const b = makeBoard();
  const sup = startSupervisor(b, { monitorMs: MONITOR_MS });
  t.after(() => destroyBoard(b, sup));
  const before = await settled(b, 'the factory release running');
  await stageFake(b, '2.0.0', 'healthy');
  appendFileSync(path.join(b.dataDir, 'ota', 'releases', '2.0.0', 'fleet-agent.mjs'), '//\n');
  requestSwitch(b, '2.0.0');
  const answer = await waitFor(() => switchAnswer(b, before.pid), {
    what: 'the answer to the switch',
  });
  assert.equal(answer.ok, false);
  assert.match(answer.reason ?? '', /the manifest says/);
  const after = await settled(b, 'the factory release still running');
  assert.equal(after.pid, before.pid);
  assert.equal(after.state.trial, undefined);
  assert.deepEqual(
    runs(b).map((r) => r.version),
    ['1.0.0'],
  );
  await stopSupervisor(b, sup, after.pid);
});

test('a committed release whose bundle no longer verifies is left for the one before it', async (t) => {
  const b = makeBoard();
  let sup = startSupervisor(b, { monitorMs: MONITOR_MS });
  t.after(() => destroyBoard(b, sup));
  await settled(b, 'the factory release running');
  await stageFake(b, '2.0.0', 'healthy');
  requestSwitch(b, '2.0.0');
  const committed = await waitFor(
    async () => {
      const s = await settled(b, 'the new release');
      return s.state.current === '2.0.0' ? s : undefined;
    },
    { timeoutMs: SETTLE_MS, what: 'release 2.0.0 committed' },
  );
  await stopSupervisor(b, sup, committed.pid);
  appendFileSync(path.join(b.dataDir, 'ota', 'releases', '2.0.0', 'fleet-agent.mjs'), '//\n');
  sup = startSupervisor(b, { monitorMs: MONITOR_MS });
  const back = await settled(b, 'the factory release again');
  assert.equal(back.state.current, FACTORY);
  assert.equal(back.state.lastFailure?.version, '2.0.0');
  assert.match(back.state.lastFailure?.reason ?? '', /the manifest says/);
  assert.deepEqual(
    runs(b).map((r) => r.version),
    ['1.0.0', '2.0.0', '1.0.0'],
    'the damaged bundle never ran',
  );
  await stopSupervisor(b, sup, back.pid);
});

// ---- kill -9 at any step of a switch

const CRASH_POINTS: [SupervisorPoint, number][] = [
  ['state-written', 1],
  ['state-renamed', 1],
  ['switch-decided', 1],
  ['old-stopped', 1],
  ['state-written', 2],
  ['state-renamed', 2],
  ['trial-started', 1],
  ['trial-spawned', 1],
  ['healthy-received', 1],
  ['state-written', 3],
  ['state-renamed', 3],
  ['committed', 1],
];

type Fault =
  | { kind: 'supervisor'; point: SupervisorPoint; nth: number; powerLoss: boolean }
  | { kind: 'new-agent'; delayMs: number };

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function pickFault(random: () => number): Fault {
  if (random() < 0.25) return { kind: 'new-agent', delayMs: Math.floor(random() * 400) };
  const [point, nth] = CRASH_POINTS[Math.floor(random() * CRASH_POINTS.length)] ?? ['committed', 1];
  return { kind: 'supervisor', point, nth, powerLoss: random() < 0.5 };
}

/** Runs one switch with the fault, restarts what died, and returns the settled board. */
async function switchWithFault(b: Board, fault: Fault, sups: SupervisorProc[]): Promise<Settled> {
  await stageFake(b, '2.0.0', 'healthy');
  const crashAt = fault.kind === 'supervisor' ? { point: fault.point, nth: fault.nth } : undefined;
  const sup = startSupervisor(b, { monitorMs: MONITOR_MS, ...(crashAt ? { crashAt } : {}) });
  sups.push(sup);
  await settled(b, 'the factory release running');
  requestSwitch(b, '2.0.0');
  if (fault.kind === 'new-agent') {
    const run = await waitFor(() => runs(b).find((r) => r.version === '2.0.0'), {
      what: 'the new release started',
    });
    await new Promise((r) => setTimeout(r, fault.delayMs));
    killQuietly(run.pid);
    // A SIGKILLed process can still look alive for a moment; settle only on what comes after it.
    await waitFor(() => (alive(run.pid) ? undefined : true), { what: 'the killed release gone' });
  } else {
    const exit = await waitFor(() => sup.proc.signalCode ?? undefined, {
      timeoutMs: SETTLE_MS,
      what: `the supervisor to die at ${fault.point} #${fault.nth}`,
    });
    assert.equal(exit, 'SIGKILL');
    if (fault.powerLoss) {
      for (const r of runs(b)) killQuietly(r.pid);
      await waitFor(() => (runs(b).some((r) => alive(r.pid)) ? undefined : true), {
        what: 'every release gone with the power',
      });
    }
    sups.push(startSupervisor(b, { monitorMs: MONITOR_MS }));
  }
  return settled(b, 'one healthy release after the fault');
}

test(`kill -9 at a random step of a switch always ends with one healthy release (${KILL_TRIALS} trials)`, async (t) => {
  const seed = Number(process.env.FLEET_OTA_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (FLEET_OTA_SEED=${seed} replays it)`);
  const random = mulberry32(seed);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < KILL_TRIALS; i++) {
    const fault = pickFault(random);
    const b = makeBoard();
    const sups: SupervisorProc[] = [];
    const label = `seed ${seed}, trial ${i}: ${JSON.stringify(fault)}`;
    try {
      const end = await switchWithFault(b, fault, sups);
      checkEnd(b, end);
      const key = `${end.state.current === FACTORY ? 'stayed on 1.0.0' : 'moved to 2.0.0'}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    } catch (e) {
      const out = sups.flatMap((s) => s.output).join('');
      throw new Error(`${label}: ${e instanceof Error ? e.message : String(e)}\n${out}`, {
        cause: e,
      });
    } finally {
      for (const s of sups) killQuietly(s.proc.pid);
      destroyBoard(b);
    }
  }
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
});

/** One release alive, the one state.json names; the state whole and consistent. */
function checkEnd(b: Board, end: Settled): void {
  assert.deepEqual(onlyAlive(b), [end.pid], 'exactly one agent runs');
  const loaded = loadState(b.dataDir);
  assert.equal(loaded.damaged, undefined);
  const s = loaded.state;
  assert.equal(s.trial, undefined);
  assert.ok([FACTORY, '2.0.0'].includes(s.current), `current is ${s.current}`);
  if (s.current === '2.0.0') assert.equal(s.previous, FACTORY);
  if (s.lastFailure) assert.equal(s.lastFailure.version, '2.0.0');
  const ota = readdirSync(path.join(b.dataDir, 'ota'));
  assert.deepEqual(
    ota.filter((n) => n.endsWith('.tmp')),
    [],
    'no temp file left',
  );
}
