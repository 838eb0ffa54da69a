// A real agent sends its usage summaries in the compact form its manager asks for, and the manager shows them.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import type { NodeView } from '../../shared/api.js';
import { cliJson, startAgent, startManager, stopProc, waitForNodes } from '../helpers/cluster.js';
import { killTasksOf } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const MIB = 1024 * 1024;

test('summaries arrive in the compact form: node inspect shows them, disks to the MiB', async () => {
  const m = await startManager({
    host: '127.0.22.41',
    heartbeat: '250ms',
    extraArgs: ['--stats-interval', '1s'],
  });
  const agent = startAgent({
    manager: m.address,
    token: m.workerToken,
    name: 'compact-1',
    address: '127.0.22.42',
    runtime: 'process',
    extraArgs: ['--remove-tasks-on-stop'],
  });
  try {
    await waitForNodes(m, 1);
    const usage = await waitFor(
      async () => (await cliJson<NodeView>(m, ['node', 'inspect', 'compact-1'])).usage ?? null,
      { what: 'a usage summary of compact-1', timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.ok(usage.memTotal > 0 && usage.memUsed > 0, JSON.stringify(usage));
    assert.ok(usage.cpu >= 0 && usage.cpu <= 1);
    // The full form carries the file system's exact bytes; the compact one whole MiB.
    assert.ok(usage.diskTotal > 0 && usage.diskTotal % MIB === 0, `disk ${usage.diskTotal}`);
    assert.equal(usage.memTotal % 1024, 0);
  } finally {
    await stopProc(agent.proc);
    await killTasksOf(agent.address);
    await stopProc(m.proc);
    for (const d of [m.dataDir, agent.dataDir]) await fs.rm(d, { recursive: true, force: true });
  }
});
