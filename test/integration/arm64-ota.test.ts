// An arm64 supervised agent under qemu-user: node upgrade moves it to a new release, and a release that exits at start falls back by itself.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NodeView } from '../../shared/api.js';
import { PROTOCOL_VERSION } from '../../shared/protocol-version.js';
import { FLEET_VERSION } from '../../shared/version.js';
import { arm64Node, arm64Unavailable } from '../helpers/arm64.js';
import { cli, cliJson, cliOk, startManager, stopProc, tempDir } from '../helpers/cluster.js';
import {
  BUNDLE,
  boardState,
  bundleRelease,
  startSupervised,
  stopBoard,
  type BoardSpec,
} from '../helpers/supervised-boards.js';
import { waitFor } from '../helpers/wait.js';

const NEXT = '0.9.3';
const BROKEN = '0.9.4';
const NAME = 'pi-arm64-ota';

async function node(m: Parameters<typeof cliJson>[0]): Promise<NodeView | undefined> {
  return (await cliJson<NodeView[]>(m, ['node', 'ls'])).find((n) => n.name === NAME);
}

test(
  'an arm64 agent under qemu-user upgrades by node upgrade, and falls back from a release that exits at start',
  { timeout: 300_000 },
  async (t) => {
    const emu = await arm64Node();
    if (!emu) {
      const why = `arm64 Node.js under qemu is not available: ${arm64Unavailable() ?? 'unknown reason'}`;
      if (process.env.CI) throw new Error(why);
      t.skip(why);
      return;
    }
    assert.ok(existsSync(BUNDLE), `the agent bundle ${BUNDLE} exists (npm run bundle:agent)`);
    const m = await startManager({ host: '127.0.25.100', heartbeat: '500ms' });
    const dir = tempDir('arm64-ota');
    const board: BoardSpec = {
      dir,
      name: NAME,
      address: '127.0.25.101',
      manager: m.address,
      token: m.workerToken,
      runner: [emu.cmd, ...emu.args],
      // Node.js under emulation starts in seconds, not milliseconds: room for the trial.
      monitor: '120s',
    };
    const started = Date.now();
    const sup = startSupervised(board);
    t.after(async () => {
      await stopBoard(board, sup);
      await stopProc(m.proc);
      rmSync(dir, { recursive: true, force: true });
    });
    await cliOk(m, ['agent', 'release', 'push', await bundleRelease(dir, NEXT)]);
    const first = await waitFor(
      async () => {
        const n = await node(m);
        return n?.status === 'ready' ? n : undefined;
      },
      { what: 'the emulated agent ready', timeoutMs: 120_000, intervalMs: 500 },
    );
    t.diagnostic(`emulated agent ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(first.arch, 'arm64');
    assert.equal(first.agentVersion, FLEET_VERSION);

    const t0 = Date.now();
    const up = await cli(
      m,
      ['node', 'upgrade', '--all', '--version', NEXT, '--monitor', '2s'].concat([
        '--download-timeout',
        '3m',
      ]),
      240_000,
    );
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    t.diagnostic(`arm64 agent upgraded to ${NEXT} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const upgraded = await node(m);
    assert.equal(upgraded?.agentVersion, NEXT);
    assert.equal(upgraded?.arch, 'arm64');
    assert.equal(boardState(board).current, NEXT);

    const broken = path.join(dir, `fleet-agent-${BROKEN}.mjs`);
    writeFileSync(
      broken,
      `// fleet-agent ${BROKEN} protocol ${PROTOCOL_VERSION}\nprocess.exit(3);\n`,
    );
    await cliOk(m, ['agent', 'release', 'push', broken]);
    const t1 = Date.now();
    await cliOk(m, [
      'node',
      'upgrade',
      '--all',
      '--version',
      BROKEN,
      '--monitor',
      '2s',
      '--detach',
    ]);
    const failed = await waitFor(
      async () => {
        const n = await node(m);
        return n?.upgrade?.state === 'failed' ? n : undefined;
      },
      { what: `the upgrade to ${BROKEN} failed`, timeoutMs: 180_000, intervalMs: 500 },
    );
    t.diagnostic(`fell back: ${failed.upgrade?.reason ?? ''}`);
    assert.match(failed.upgrade?.reason ?? '', /code 3/);
    const back = await waitFor(
      async () => {
        const n = await node(m);
        return n?.status === 'ready' && n.agentVersion === NEXT ? n : undefined;
      },
      { what: `the board back on ${NEXT}`, timeoutMs: 120_000, intervalMs: 500 },
    );
    t.diagnostic(`back on ${NEXT} ${((Date.now() - t1) / 1000).toFixed(1)} s after the order`);
    assert.equal(back.arch, 'arm64');
    const state = boardState(board);
    assert.equal(state.current, NEXT);
    assert.equal(state.trial, undefined);
    assert.equal(state.lastFailure?.version, BROKEN);
  },
);
