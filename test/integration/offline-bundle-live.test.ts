// Offline bundles and a running agent: `bundle apply` hands the file to it, and a stick's bundle in a watched dir is picked up, with no manager.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  REPO,
  cliOk,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
} from '../helpers/cluster.js';
import { killTasksOf } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const AGENT_JS = path.join(REPO, 'dist', 'fleet-agent.mjs');
const BOARD = '127.0.24.3';
const NAME = 'fleet-bundle-live';
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
  'a running agent applies a bundle handed over by bundle apply, then one found on a watched stick, with no manager and no restart of what runs',
  { timeout: 180_000 },
  async (t) => {
    const m = await startManager({ host: '127.0.24.1', heartbeat: '500ms' });
    const dir = tempDir('bundle-live');
    const sticks = path.join(dir, 'media');
    mkdirSync(path.join(sticks, 'usb1'), { recursive: true });
    const starts = path.join(dir, 'starts');
    const agent = startAgent({
      manager: m.address,
      token: m.workerToken,
      name: NAME,
      address: BOARD,
      runtime: 'process',
      extraArgs: ['--bundle-dir', sticks, '--remove-tasks-on-stop'],
    });
    t.after(async () => {
      await stopProc(agent.proc);
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
    const make = async (file: string, services: string[]): Promise<string> => {
      const out = path.join(dir, file);
      const args = ['bundle', 'create', '--out', out, '--node', NAME];
      await cliOk(m, [...args, ...services.flatMap((s) => ['--service', `fleet-bundle-${s}`])]);
      return out;
    };
    const first = await make('first.fleet', ['a']);
    const second = await make('second.fleet', ['a', 'b']);
    await stopProc(m.proc);

    const apply = (file: string): Promise<{ code: number; out: string }> =>
      new Promise((resolve) => {
        const args = ['bundle', 'apply', file, '--data-dir', agent.dataDir, '--runtime', 'process'];
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
