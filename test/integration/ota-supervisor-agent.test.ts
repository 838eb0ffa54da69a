// The bundled agent under --supervise against a real manager: a new release commits once it has reconnected, a release that cannot reach a manager is left, and tasks never restart.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { signRelease } from '../../shared/ota/release.js';
import { FLEET_VERSION } from '../../shared/version.js';
import { beginSwitch } from '../../agent/ota/ota-state.js';
import { loadState, saveState } from '../../agent/ota/ota-state-file.js';
import { stageRelease } from '../../agent/ota/stage.js';
import {
  REPO,
  cli,
  cliOk,
  freePort,
  runningTasks,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type ManagerProc,
} from '../helpers/cluster.js';
import { alive, killQuietly } from '../helpers/ota-board.js';
import { waitFor } from '../helpers/wait.js';

const BUNDLE = path.join(REPO, 'dist', 'fleet-agent.mjs');
const SERVICE = 'ota-keeps-running';
/** A task that notes each start of itself, so a restart would show as a second line. */
const TASK = (file: string): string =>
  `require('fs').appendFileSync(${JSON.stringify(file)}, process.pid + '\\n'); setInterval(() => {}, 1000);`;

/** Builds a bundle of this tree that reports `version`, signs it with the cluster's root key, stages it. */
async function stageBuilt(m: ManagerProc, dir: string, dataDir: string, version: string) {
  const out = path.join(dir, `fleet-agent-${version}.mjs`);
  await promisify(execFile)(process.execPath, [
    path.join(REPO, 'bin', 'bundle-agent.js'),
    '--release-version',
    version,
    '--out',
    out,
  ]);
  const bytes = readFileSync(out);
  const db = new Database(path.join(m.dataDir, 'state.db'), {
    readonly: true,
    fileMustExist: true,
  });
  const row = db.prepare("SELECT value FROM meta WHERE key = 'cluster'").get() as { value: string };
  db.close();
  const cluster = JSON.parse(row.value) as { rootPub: string; rootSecret: string };
  const manifest = {
    version,
    nodeMin: '20.0.0',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    createdAt: Date.now(),
  };
  await stageRelease({
    dataDir,
    rootPub: cluster.rootPub,
    release: signRelease(manifest, cluster.rootSecret),
    bundle: { file: out },
    runningVersion: FLEET_VERSION,
  });
}

function supervised(dir: string, args: string[]): ChildProcess {
  const fd = openSync(path.join(dir, 'supervisor.log'), 'a');
  const proc = spawn(process.execPath, [BUNDLE, 'agent', 'start', '--supervise', ...args], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  return proc;
}

/** Decides a switch the way the supervisor does, while it is stopped (the manager's order is not wired yet). */
function decideSwitch(dataDir: string, version: string): void {
  saveState(dataDir, beginSwitch(loadState(dataDir).state, version));
}

test(
  'a new agent release commits once connected and reconciled; one that reaches no manager is left; the task never restarts',
  { timeout: 240_000 },
  async (t) => {
    const m = await startManager();
    const dir = tempDir('ota-agent');
    const dataDir = path.join(dir, 'agent');
    const starts = path.join(dir, 'task-starts');
    const common = [
      '--data-dir',
      dataDir,
      '--advertise-addr',
      '127.0.20.200',
      '--name',
      'ota-board',
    ];
    const agent = [...common, '--runtime', 'process', '--manager', m.address];
    let sup = supervised(dir, [...agent, '--token', m.workerToken, '--upgrade-monitor', '30s']);
    t.after(async () => {
      await stopProc(sup);
      await cli(m, ['service', 'rm', SERVICE]);
      for (const pid of taskPids()) killQuietly(pid);
      await stopProc(m.proc);
      rmSync(dir, { recursive: true, force: true });
    });
    const taskPids = (): number[] =>
      (() => {
        try {
          return readFileSync(starts, 'utf8').split('\n').filter(Boolean).map(Number);
        } catch {
          return [];
        }
      })();
    await waitForNodes(m, 1);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      SERVICE,
      '--detach',
      'busybox',
      '--',
      process.execPath,
      '-e',
      TASK(starts),
    ]);
    await waitFor(async () => (await runningTasks(m, SERVICE)).length === 1, {
      what: 'the task running',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const [task] = await waitFor(() => (taskPids().length === 1 ? taskPids() : undefined), {
      what: 'the task noting its start',
    });

    // Healthy: 0.2.0 connects to the manager, reconciles, and is committed.
    await stageBuilt(m, dir, dataDir, '0.2.0');
    await stopProc(sup);
    decideSwitch(dataDir, '0.2.0');
    const asked = Date.now();
    sup = supervised(dir, [...agent, '--upgrade-monitor', '30s']);
    const committed = await waitFor(
      () => {
        const s = loadState(dataDir).state;
        return s.current === '0.2.0' ? s : undefined;
      },
      { what: 'release 0.2.0 committed', timeoutMs: 60_000, intervalMs: 100 },
    );
    t.diagnostic(
      `supervisor start → 0.2.0 committed in ${(committed.committedAt ?? 0) - asked} ms`,
    );
    assert.equal(committed.previous, 'factory');
    assert.equal(committed.lastFailure, undefined);
    await waitForNodes(m, 1);
    assert.deepEqual(taskPids(), [task], 'the task did not restart with the switch');

    // No manager reachable: 0.3.0 never reports healthy and the board goes back to 0.2.0.
    await stageBuilt(m, dir, dataDir, '0.3.0');
    await stopProc(sup);
    decideSwitch(dataDir, '0.3.0');
    const nowhere = `127.0.0.1:${await freePort()}`;
    sup = supervised(dir, [
      ...common,
      '--runtime',
      'process',
      '--manager',
      nowhere,
      '--upgrade-monitor',
      '4s',
    ]);
    const back = await waitFor(
      () => {
        const s = loadState(dataDir).state;
        return s.lastFailure?.version === '0.3.0' && !s.trial ? s : undefined;
      },
      { what: 'the fall back from 0.3.0', timeoutMs: 60_000, intervalMs: 100 },
    );
    assert.equal(back.current, '0.2.0');
    assert.match(back.lastFailure?.reason ?? '', /did not report healthy within 4000 ms/);

    assert.deepEqual(taskPids(), [task], 'the task never restarted');
    assert.ok(task !== undefined && alive(task), 'and it still runs');
  },
);
