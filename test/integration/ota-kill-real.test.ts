// kill -9 of the real supervised agent bundle at each step of a switch, seeded: every board ends on one complete release that connects.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { NodeView } from '../../shared/api.js';
import type { SupervisorPoint } from '../../agent/ota/supervisor.js';
import { PAUSE_AT_ENV } from '../../agent/ota/supervise-cli.js';
import { FLEET_VERSION } from '../../shared/version.js';
import { cliJson, cliOk, startManager, stopProc, tempDir } from '../helpers/cluster.js';
import {
  agentPids,
  boardState,
  bundleRelease,
  committedVersion,
  dataDirOf,
  isStopped,
  killQuietly,
  startSupervised,
  stopBoard,
  type BoardSpec,
} from '../helpers/supervised-boards.js';
import { waitFor } from '../helpers/wait.js';

const MANAGER_HOST = '127.0.25.1';
const NEXT = '0.9.1';
const TRIALS = Number(process.env.FLEET_OTA_KILL_TRIALS ?? 20);
/** Boards switched at once, each with its own fault: the real bundle starts slowly, so in batches. */
const BATCH = 10;
const SEED = Number(process.env.FLEET_OTA_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));

/**
 * The steps of a switch, by name (the n-th save of the switch: 1 decides it, 2 starts the trial,
 * 3 commits): before each rename of state.json, after it, while the new release starts, and
 * after it said healthy but before the commit is written.
 */
const STEPS: [string, SupervisorPoint, number][] = [
  ['before rename (switch decided)', 'state-written', 1],
  ['after rename (switch decided)', 'state-renamed', 1],
  ['old agent stopped', 'old-stopped', 1],
  ['before rename (trial)', 'state-written', 2],
  ['after rename (trial)', 'state-renamed', 2],
  ['first start of the new release', 'trial-spawned', 1],
  ['before commit (healthy heard)', 'healthy-received', 1],
  ['before rename (commit)', 'state-written', 3],
  ['after rename (commit)', 'state-renamed', 3],
];

type Fault =
  | { kind: 'supervisor'; step: string; point: SupervisorPoint; nth: number; powerCut: boolean }
  | { kind: 'new-agent'; step: string; delayMs: number };

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

/** Every step at least once (in a seeded order), then seeded picks; some trials kill the new agent itself. */
function faults(seed: number, n: number): Fault[] {
  const random = mulberry32(seed);
  const order = STEPS.map((s) => ({ s, k: random() })).sort((a, b) => a.k - b.k);
  return Array.from({ length: n }, (_, i): Fault => {
    if (i >= STEPS.length && random() < 0.2)
      return {
        kind: 'new-agent',
        step: 'new agent killed while starting',
        delayMs: Math.floor(random() * 1500),
      };
    const [step, point, nth] =
      i < order.length
        ? (order[i]?.s ?? STEPS[0]!)
        : (STEPS[Math.floor(random() * STEPS.length)] ?? STEPS[0]!);
    return { kind: 'supervisor', step, point, nth, powerCut: random() < 0.5 };
  });
}

interface Trial {
  board: BoardSpec;
  fault: Fault;
  sup: ChildProcess;
}

/** Applies the fault to one board while its switch runs, then restarts what a crash left dead. */
async function inflict(trial: Trial, staged: string): Promise<void> {
  const { fault, board } = trial;
  const dataDir = dataDirOf(board);
  if (fault.kind === 'new-agent') {
    const pid = await waitFor(() => agentPids(dataDir).find((p) => cmdline(p).includes(staged)), {
      what: `${board.name}: the new release starting`,
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    await new Promise((r) => setTimeout(r, fault.delayMs));
    killQuietly(pid);
    return;
  }
  const sup = trial.sup;
  await waitFor(() => sup.pid !== undefined && isStopped(sup.pid), {
    what: `${board.name}: the supervisor paused at ${fault.point}:${fault.nth}`,
    timeoutMs: 60_000,
    intervalMs: 20,
  });
  // A power cut takes the agents with it; a crash of the supervisor alone leaves its agent running.
  if (fault.powerCut) for (const pid of agentPids(dataDir)) killQuietly(pid);
  killQuietly(sup.pid);
  await new Promise((r) => sup.once('exit', r));
  trial.sup = startSupervised({ ...board, env: {} });
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** The board runs one release, the one state.json names, and the manager sees it ready on that version. */
function settledOn(b: BoardSpec, nodes: NodeView[]): string | undefined {
  const state = boardState(b);
  if (state.trial) return undefined;
  const pids = agentPids(dataDirOf(b));
  if (pids.length !== 1) return undefined;
  const version = committedVersion(state, FLEET_VERSION);
  const n = nodes.find((x) => x.name === b.name);
  if (!n || n.status !== 'ready' || n.agentVersion !== version) return undefined;
  if (n.upgrade && ['pending', 'upgrading', 'monitoring'].includes(n.upgrade.state))
    return undefined;
  return version;
}

test(
  `kill -9 at every step of a switch of the real agent bundle (${TRIALS} seeded trials) leaves one complete release that connects`,
  { timeout: 300_000 },
  async (t) => {
    t.diagnostic(`seed ${SEED} (replay with FLEET_OTA_KILL_SEED=${SEED})`);
    assert.notEqual(FLEET_VERSION, NEXT);
    const m = await startManager({ host: MANAGER_HOST, heartbeat: '500ms' });
    const dir = tempDir('ota-kill-real');
    const trials: Trial[] = [];
    t.after(async () => {
      for (const tr of trials) await stopBoard(tr.board, tr.sup);
      await stopProc(m.proc);
      rmSync(dir, { recursive: true, force: true });
    });
    await cliOk(m, ['agent', 'release', 'push', await bundleRelease(dir, NEXT)]);
    const plan = faults(SEED, TRIALS);
    const outcomes = new Map<string, number>();
    for (let first = 0; first < plan.length; first += BATCH) {
      const batch = plan.slice(first, first + BATCH).map((fault, j): Trial => {
        const i = first + j;
        const board: BoardSpec = {
          dir,
          name: `kill-${i + 1}`,
          address: `127.0.25.${10 + i}`,
          manager: m.address,
          token: m.workerToken,
          monitor: '30s',
        };
        const env =
          fault.kind === 'supervisor' ? { [PAUSE_AT_ENV]: `${fault.point}:${fault.nth}` } : {};
        const trial = { board, fault, sup: startSupervised({ ...board, env }) };
        trials.push(trial);
        return trial;
      });
      const names = batch.map((x) => x.board.name);
      const began = Date.now();
      await waitFor(
        async () => {
          const nodes = await cliJson<NodeView[]>(m, ['node', 'ls']);
          return names.every((n) => nodes.some((x) => x.name === n && x.status === 'ready'));
        },
        { what: `boards ${names.join(', ')} ready`, timeoutMs: 60_000, intervalMs: 250 },
      );
      await cliOk(m, [
        'node',
        'upgrade',
        ...names,
        '--version',
        NEXT,
        '--parallelism',
        '0',
        '--monitor',
        '1s',
        '--failure-action',
        'continue',
        '--download-timeout',
        '60s',
        '--detach',
      ]);
      const readyS = (Date.now() - began) / 1000;
      const staged = path.join('ota', 'releases', NEXT);
      await Promise.all(batch.map((tr) => inflict(tr, staged)));
      const ends = await waitFor(
        async () => {
          const nodes = await cliJson<NodeView[]>(m, ['node', 'ls']);
          const v = batch.map((tr) => settledOn(tr.board, nodes));
          return v.every((x) => x !== undefined) ? v : undefined;
        },
        { what: `boards ${names.join(', ')} settled`, timeoutMs: 90_000, intervalMs: 250 },
      );
      t.diagnostic(
        `batch of ${batch.length}: ready in ${readyS.toFixed(1)} s, settled after the faults ` +
          `${((Date.now() - began) / 1000 - readyS).toFixed(1)} s later`,
      );
      batch.forEach((tr, j) => {
        const version = ends[j] ?? '';
        const f = tr.fault;
        const how = f.kind === 'supervisor' && f.powerCut ? 'power cut' : 'kill -9';
        t.diagnostic(`${tr.board.name}: ${how} at ${f.step} → ${version}`);
        assert.ok([FLEET_VERSION, NEXT].includes(version), `${tr.board.name} runs ${version}`);
        const key = `${f.step} → ${version}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      });
      // The boards of the batch are done with: stop them before the next batch starts.
      for (const tr of batch) await stopBoard(tr.board, tr.sup);
    }
    for (const [k, n] of [...outcomes].sort()) t.diagnostic(`${n} × ${k}`);
    const covered = new Set(plan.map((f) => f.step));
    for (const [step] of STEPS) assert.ok(covered.has(step), `a trial killed at ${step}`);
  },
);
