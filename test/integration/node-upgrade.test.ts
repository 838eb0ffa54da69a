// `fleet node upgrade` against a real manager and simulated agents: one node at a time, a failure that pauses, a rollback.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NodeView } from '../../shared/api.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import {
  REPO,
  cli,
  cliJson,
  cliOk,
  startManager,
  stopProc,
  tempDir,
  type ManagerProc,
} from '../helpers/cluster.js';
import { UpgradingAgents, type UpgradeEvent } from '../helpers/upgrading-agents.js';
import { waitFor } from '../helpers/wait.js';

const OLD = '0.1.0';
const NEW = '0.2.0';
const NAMES = ['up-1', 'up-2', 'up-3'];

async function pushRelease(m: ManagerProc, dir: string, version: string): Promise<void> {
  const out = path.join(dir, `fleet-agent-${version}.mjs`);
  await promisify(execFile)(process.execPath, [
    path.join(REPO, 'bin', 'bundle-agent.js'),
    '--out',
    out,
    '--release-version',
    version,
  ]);
  await cliOk(m, ['agent', 'release', 'push', out]);
}

const nodes = (m: ManagerProc) => cliJson<NodeView[]>(m, ['node', 'ls']);

/** The simulated nodes, by name, as node ls shows them. */
async function versions(m: ManagerProc): Promise<Record<string, string>> {
  const list = await nodes(m);
  return Object.fromEntries(
    list.filter((n) => NAMES.includes(n.name)).map((n) => [n.name, n.agentVersion]),
  );
}

const all = (v: string): Record<string, string> => Object.fromEntries(NAMES.map((n) => [n, v]));

/** No two nodes were between hearing of a release and switching at the same time. */
function assertOneAtATime(events: UpgradeEvent[]): void {
  const sorted = [...events].sort((a, b) => a.askedAt - b.askedAt);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    assert.ok(prev?.endedAt !== undefined && cur, 'every upgrade ended');
    assert.ok(
      cur.askedAt >= prev.endedAt,
      `${cur.node} was asked at ${cur.askedAt}, before ${prev.node} finished at ${prev.endedAt}`,
    );
  }
}

test('node upgrade with simulated agents', { timeout: 300_000 }, async (t) => {
  const dir = tempDir('node-upgrade');
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const m = await startManager({ host: '127.0.18.10', heartbeat: '1s' });
  t.after(() => stopProc(m.proc));
  await pushRelease(m, dir, OLD);
  await pushRelease(m, dir, NEW);
  const agents = new UpgradingAgents(300);
  t.after(() => agents.stop());
  await agents.start(
    m.address,
    m.workerToken,
    NAMES.map((name, i) => ({ name, address: `127.0.18.${21 + i}` })),
    OLD,
  );
  await waitFor(
    async () => {
      const list = (await nodes(m)).filter((n) => NAMES.includes(n.name));
      return list.length === 3 && list.every((n) => n.status === 'ready' && n.agentVersion === OLD);
    },
    { what: 'three ready nodes on 0.1.0', timeoutMs: 20_000 },
  );

  await t.test('--all --parallelism 1 upgrades each node in turn, never two at once', async () => {
    const r = await cli(
      m,
      ['node', 'upgrade', '--all', '--parallelism', '1', '--monitor', '1s'],
      120_000,
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /upgrade to 0\.2\.0 completed: 3 node\(s\) upgraded/);
    assert.deepEqual(await versions(m), all(NEW));
    const events = agents.events.filter((e) => e.version === NEW);
    assert.deepEqual(
      events.map((e) => e.node),
      NAMES,
    );
    assertOneAtATime(events);
    const table = await cliOk(m, ['node', 'ls']);
    for (const name of NAMES) assert.match(table, new RegExp(`${name}\\s.*\\s0\\.2\\.0`));
  });

  await t.test(
    'a node that falls back pauses the wave after it; node inspect names the reason',
    async () => {
      const down = await cli(
        m,
        ['node', 'upgrade', '--all', '--version', OLD, '--parallelism', '0', '--monitor', '1s'],
        120_000,
      );
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(await versions(m), all(OLD));
      agents.agent('up-2').failing.set(NEW, 'exited at start with code 1');
      const before = agents.events.length;
      const r = await cli(
        m,
        ['node', 'upgrade', '--all', '--version', NEW, '--monitor', '1s'],
        120_000,
      );
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        /upgrade paused: node up-2 failed: its agent fell back: exited at start with code 1 \(1 of 3 failed\)/,
      );
      assert.deepEqual(await versions(m), { 'up-1': NEW, 'up-2': OLD, 'up-3': OLD });
      const asked = agents.events.slice(before).map((e) => e.node);
      assert.deepEqual(asked, ['up-1', 'up-2'], 'up-3 was never asked');
      const inspected = await cliJson<NodeView>(m, ['node', 'inspect', 'up-2']);
      assert.equal(inspected.upgrade?.state, 'failed');
      assert.equal(inspected.upgrade?.target, OLD);
      assert.match(inspected.upgrade?.reason ?? '', /exited at start with code 1/);
      assert.equal(inspected.upgrade?.agent?.state, 'failed');
      const pretty = await cliOk(m, ['node', 'inspect', 'up-2', '--pretty']);
      assert.match(
        pretty,
        /Agent Upgrade:\n\s+Target:\s+0\.1\.0 \(rollout to 0\.2\.0\)\n\s+State:\s+failed \(its agent fell back: exited at start with code 1\)/,
      );
      const listed = await cliOk(m, ['node', 'ls', '--format', '{{.Hostname}} {{.Upgrade}}']);
      assert.match(listed, /^up-2 failed 0\.1\.0$/m);
      assert.match(listed, /^up-3 pending$/m);
      const status = await cliOk(m, ['node', 'upgrade', '--status']);
      assert.match(status, /State:\s+paused/);
      assert.match(status, /up-3\s+worker\s+pending/);
    },
  );

  await t.test('--rollback sends the upgraded nodes back to the release they ran', async () => {
    const before = agents.events.length;
    const r = await cli(m, ['node', 'upgrade', '--rollback'], 120_000);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(await versions(m), all(OLD));
    const back = agents.events.slice(before);
    assert.deepEqual(
      back.map((e) => [e.node, e.version, e.outcome]),
      [['up-1', OLD, 'switched']],
    );
    const text = await cliOk(m, ['node', 'upgrade', '--status', '--json']);
    const [latest] = JSON.parse(text) as RolloutRecord[];
    assert.equal(latest?.state, 'rolled back');
  });

  await t.test('--failure-action rollback sends the nodes back by itself', async () => {
    const before = agents.events.length;
    const r = await cli(
      m,
      [
        'node',
        'upgrade',
        '--all',
        '--version',
        NEW,
        '--monitor',
        '1s',
        '--failure-action',
        'rollback',
      ],
      120_000,
    );
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /rolled back: upgrade failed: node up-2 failed: its agent fell back/);
    assert.deepEqual(await versions(m), all(OLD));
    const seen = agents.events.slice(before).map((e) => [e.node, e.version, e.outcome]);
    assert.deepEqual(seen, [
      ['up-1', NEW, 'switched'],
      ['up-2', NEW, 'failed'],
      ['up-1', OLD, 'switched'],
    ]);
  });
});
