// fleet node upgrade end to end: three supervised agents from the bundle upgrade one at a time to a pushed release without restarting tasks; a release that exits at start falls back on the board and pauses the wave.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NodeView } from '../../shared/api.js';
import { FLEET_VERSION } from '../../shared/version.js';
import {
  REPO,
  cli,
  cliJson,
  cliOk,
  runningTasks,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type ManagerProc,
} from '../helpers/cluster.js';
import { killQuietly } from '../helpers/ota-board.js';
import { waitFor } from '../helpers/wait.js';

const BUNDLE = path.join(REPO, 'dist', 'fleet-agent.mjs');
const MANAGER_HOST = '127.0.20.1';
const BOARDS = ['127.0.20.2', '127.0.20.3', '127.0.20.4'];
const NAMES = BOARDS.map((_, i) => `ota-up-${i + 1}`);
const SERVICE = 'ota-steady';
const NEXT = '0.2.0';
const BROKEN = '0.3.0';
/** A task that notes each start of itself: a restart would show as another line. */
const TASK = (file: string): string =>
  `require('fs').appendFileSync(${JSON.stringify(file)}, process.pid + '\\n'); setInterval(() => {}, 1000);`;

function supervised(dir: string, name: string, args: string[]): ChildProcess {
  const fd = openSync(path.join(dir, `${name}.log`), 'a');
  const proc = spawn(process.execPath, [BUNDLE, 'agent', 'start', '--supervise', ...args], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  return proc;
}

async function bundle(dir: string, version: string): Promise<string> {
  const out = path.join(dir, `fleet-agent-${version}.mjs`);
  await promisify(execFile)(process.execPath, [
    path.join(REPO, 'bin', 'bundle-agent.js'),
    '--release-version',
    version,
    '--out',
    out,
  ]);
  return out;
}

const versions = async (m: ManagerProc): Promise<Record<string, string>> =>
  Object.fromEntries(
    (await cliJson<NodeView[]>(m, ['node', 'ls']))
      .filter((n) => NAMES.includes(n.name))
      .map((n) => [n.name, n.agentVersion]),
  );

const lines = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

test(
  'node upgrade moves supervised agents one at a time with no task restart; a release that exits at start falls back and pauses the wave',
  { timeout: 420_000 },
  async (t) => {
    assert.notEqual(FLEET_VERSION, NEXT, 'the tree is not already at the release pushed');
    const m = await startManager({ host: MANAGER_HOST, heartbeat: '500ms' });
    const dir = tempDir('ota-upgrade');
    const starts = path.join(dir, 'task-starts');
    const agents = BOARDS.map((address, i) => {
      const name = NAMES[i] ?? 'x';
      const args = ['--data-dir', path.join(dir, name), '--advertise-addr', address];
      args.push('--name', name, '--runtime', 'process', '--manager', m.address);
      args.push('--token', m.workerToken, '--upgrade-monitor', '20s');
      return supervised(dir, name, args);
    });
    t.after(async () => {
      for (const a of agents) await stopProc(a);
      await cli(m, ['service', 'rm', SERVICE]);
      for (const pid of lines(starts).map(Number)) killQuietly(pid);
      await stopProc(m.proc);
      rmSync(dir, { recursive: true, force: true });
    });
    await waitForNodes(m, 3, 60_000);
    assert.deepEqual(await versions(m), Object.fromEntries(NAMES.map((n) => [n, FLEET_VERSION])));
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
    await waitFor(() => (lines(starts).length === 3 ? true : null), {
      what: 'three tasks started',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const before = (await runningTasks(m, SERVICE)).map((x) => x.id).sort();

    await cliOk(m, ['agent', 'release', 'push', await bundle(dir, NEXT)]);
    const t0 = Date.now();
    const up = await cli(
      m,
      ['node', 'upgrade', '--all', '--version', NEXT, '--parallelism', '1', '--monitor', '2s'],
      240_000,
    );
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    t.diagnostic(`3 agents to ${NEXT}, one at a time: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(await versions(m), Object.fromEntries(NAMES.map((n) => [n, NEXT])));
    assert.equal(lines(starts).length, 3, 'no task restarted');
    assert.deepEqual((await runningTasks(m, SERVICE)).map((x) => x.id).sort(), before);

    // A release whose bundle exits at once: the first board tries it, falls back by itself.
    const broken = path.join(dir, `fleet-agent-${BROKEN}.mjs`);
    writeFileSync(broken, `// fleet-agent ${BROKEN} protocol 1\nprocess.exit(3);\n`);
    await cliOk(m, ['agent', 'release', 'push', broken]);
    const bad = await cli(
      m,
      [
        'node',
        'upgrade',
        '--all',
        '--version',
        BROKEN,
        '--parallelism',
        '1',
        '--monitor',
        '2s',
      ].concat(['--failure-action', 'pause', '--detach']),
      60_000,
    );
    assert.equal(bad.code, 0, bad.stderr);
    const failed = await waitFor(
      async () => {
        const list = await cliJson<NodeView[]>(m, ['node', 'ls']);
        return list.find((n) => n.upgrade?.state === 'failed') ?? null;
      },
      { what: `a node whose upgrade to ${BROKEN} failed`, timeoutMs: 120_000, intervalMs: 500 },
    );
    t.diagnostic(`${failed.name}: ${failed.upgrade?.reason ?? ''}`);
    assert.match(failed.upgrade?.reason ?? '', /exit|code 3/i);
    const pretty = await cliOk(m, ['node', 'inspect', '--pretty', failed.name]);
    assert.match(pretty, new RegExp(`${BROKEN.replace(/\./g, '\\.')}`));
    await waitFor(async () => ((await versions(m))[failed.name] === NEXT ? true : null), {
      what: `${failed.name} back on ${NEXT}`,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    const status = await cliOk(m, ['node', 'upgrade', '--status']);
    assert.match(status, /paused/);
    const after = await versions(m);
    assert.deepEqual(after, Object.fromEntries(NAMES.map((n) => [n, NEXT])), 'the wave stopped');
    assert.equal(lines(starts).length, 3, 'still no task restarted');
  },
);
