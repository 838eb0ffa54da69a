// The bundled agent on arm64 Node.js under qemu-user: it joins, reports arm64 and runs a pinned task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import path from 'node:path';
import { arm64Node, arm64Unavailable } from '../helpers/arm64.js';
import {
  REPO,
  cliJson,
  cliOk,
  startManager,
  stopProc,
  tempDir,
  type NodeJson,
  type TaskJson,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const BUNDLE = path.join(REPO, 'dist', 'fleet-agent.mjs');

test(
  'the bundled agent runs on arm64 Node.js, reports arch arm64 and takes arm64-constrained tasks',
  { timeout: 240_000 },
  async (t) => {
    const emu = await arm64Node();
    if (!emu) {
      const why = `arm64 Node.js under qemu is not available: ${arm64Unavailable() ?? 'unknown reason'}`;
      if (process.env.CI) throw new Error(why);
      t.skip(why);
      return;
    }
    assert.ok(existsSync(BUNDLE), `the agent bundle ${BUNDLE} exists (npm run bundle:agent)`);
    const m = await startManager();
    t.after(() => stopProc(m.proc));
    const dataDir = tempDir('arm64-agent');
    const log = createWriteStream(path.join(dataDir, '..', path.basename(dataDir) + '.log'));
    // The bundle needs nothing but Node.js: run it from a folder with no node_modules in reach.
    const agent = spawn(
      emu.cmd,
      [
        ...emu.args,
        BUNDLE,
        'agent',
        'start',
        '--manager',
        m.address,
        '--token',
        m.workerToken,
        '--data-dir',
        dataDir,
        '--advertise-addr',
        '127.0.0.9',
        '--name',
        'pi-1',
        '--runtime',
        'process',
      ],
      { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    agent.stdout.pipe(log);
    agent.stderr.pipe(log);
    t.after(() => stopProc(agent));
    // An agent that dies at start (a broken bundle) fails the test at once, not after the wait.
    const died = new Promise<never>((_, reject) => {
      agent.once('exit', (code) =>
        reject(new Error(`the emulated agent exited early (code ${code})`)),
      );
    });
    died.catch(() => undefined);

    const node = await Promise.race([
      died,
      waitFor(
        async () =>
          (await cliJson<NodeJson[]>(m, ['node', 'ls'])).find(
            (n) => n.name === 'pi-1' && n.status === 'ready',
          ),
        { what: 'the emulated agent to be ready', timeoutMs: 120_000, intervalMs: 500 },
      ),
    ]);
    assert.equal(node.arch, 'arm64');
    assert.equal(node.os, 'linux');

    await cliOk(m, [
      'service',
      'create',
      '--detach',
      '--name',
      'armjob',
      '--constraint',
      'node.platform.arch==arm64',
      'busybox',
      'sleep',
      '300',
    ]);
    const task = await waitFor(
      async () =>
        (await cliJson<TaskJson[]>(m, ['service', 'ps', 'armjob'])).find(
          (x) => x.state === 'running',
        ),
      { what: 'the arm64 task to run', timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.equal(task.node, node.id);
    await cliOk(m, ['service', 'rm', 'armjob']);
  },
);
