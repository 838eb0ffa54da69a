// Offline bundles and a running supervised agent: `bundle apply` hands the file to it, and a stick's bundle in a watched dir is picked up and its agent release switched to, with no manager.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadState } from '../../agent/ota/ota-state-file.js';
import { REPO, cliOk, startManager, stopProc, tempDir, waitForNodes } from '../helpers/cluster.js';
import { killTasksOf } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const AGENT_JS = path.join(REPO, 'dist', 'fleet-agent.mjs');
const BOARD = '127.0.24.3';
const NAME = 'fleet-bundle-live';
const NEXT = '0.2.0';
const run = promisify(execFile);
/** A task that notes each start of itself by name: a restart shows as another line. */
const TASK = (file: string, name: string): string =>
  `require('fs').appendFileSync(${JSON.stringify(file)}, ${JSON.stringify(name)} + '\\n'); setInterval(() => {}, 1000);`;

const lines = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

test(
  'a running agent applies a bundle handed over by bundle apply, then one found on a watched stick whose agent release it switches to, with no manager and no restart of what runs',
  { timeout: 180_000 },
  async (t) => {
    const m = await startManager({ host: '127.0.24.1', heartbeat: '500ms' });
    const dir = tempDir('bundle-live');
    const sticks = path.join(dir, 'media');
    mkdirSync(path.join(sticks, 'usb1'), { recursive: true });
    const starts = path.join(dir, 'starts');
    const dataDir = path.join(dir, 'board');
    const args = ['--manager', m.address, '--token', m.workerToken, '--data-dir', dataDir];
    args.push('--advertise-addr', BOARD, '--name', NAME, '--runtime', 'process');
    args.push('--bundle-dir', sticks, '--upgrade-monitor', '30s');
    const fd = openSync(path.join(dir, 'board.log'), 'a');
    const agent = spawn(process.execPath, [AGENT_JS, 'agent', 'start', '--supervise', ...args], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    t.after(async () => {
      await stopProc(agent);
      await killTasksOf(BOARD);
      await stopProc(m.proc);
      rmSync(dir, { recursive: true, force: true });
    });
    await waitForNodes(m, 1, 60_000);
    await cliOk(m, ['node', 'update', '--availability', 'pause', NAME]);
    for (const name of ['a', 'b'])
      await cliOk(
        m,
        ['service', 'create', '--name', `fleet-bundle-${name}`, '--detach'].concat([
          'busybox',
          '--',
          process.execPath,
          '-e',
          TASK(starts, name),
        ]),
      );
    const release = path.join(dir, `fleet-agent-${NEXT}.mjs`);
    const bundler = path.join(REPO, 'bin', 'bundle-agent.js');
    await run(process.execPath, [bundler, '--release-version', NEXT, '--out', release]);
    await cliOk(m, ['agent', 'release', 'push', release]);
    const make = async (
      file: string,
      services: string[],
      extra: string[] = [],
    ): Promise<string> => {
      const out = path.join(dir, file);
      const args = ['bundle', 'create', '--out', out, '--node', NAME, ...extra];
      await cliOk(m, [...args, ...services.flatMap((s) => ['--service', `fleet-bundle-${s}`])]);
      return out;
    };
    const first = await make('first.fleet', ['a']);
    const second = await make('second.fleet', ['a', 'b'], ['--agent', NEXT]);
    await stopProc(m.proc);

    const apply = (file: string): Promise<{ code: number; out: string }> =>
      new Promise((resolve) => {
        const args = ['bundle', 'apply', file, '--data-dir', dataDir, '--runtime', 'process'];
        execFile(process.execPath, [AGENT_JS, ...args], (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
        );
      });
    const handed = await apply(first);
    assert.equal(handed.code, 0, handed.out);
    assert.match(handed.out, /applied bundle \d+/);
    await waitFor(() => (lines(starts).includes('a') ? true : null), {
      what: 'the handed-over bundle task running',
      timeoutMs: 30_000,
      intervalMs: 200,
    });

    copyFileSync(second, path.join(sticks, 'usb1', 'fleet-bundle-2.fleet'));
    await waitFor(() => (lines(starts).includes('b') ? true : null), {
      what: "the stick's bundle task running",
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    // The stick's bundle carried an agent release: the supervisor switches to it at once.
    await waitFor(() => (loadState(dataDir).state.current === NEXT ? true : null), {
      what: `the running board switched to agent ${NEXT} and committed it`,
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    assert.deepEqual(lines(starts).sort(), ['a', 'b'], 'a kept running through the second bundle');

    const again = await apply(first);
    assert.equal(again.code, 3, again.out);
    assert.match(
      again.out,
      /bundle refused: bundle \d+ is older than the bundle \d+ already applied/,
    );
    assert.deepEqual(lines(starts).sort(), ['a', 'b']);
  },
);
