// Events through a leader change: three managers, the leader killed; the sequence goes on and a follower misses nothing.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import type { FleetEvent } from '../../shared/events.js';
import {
  cli,
  cliJson,
  cliOk,
  clusterTarget,
  spawnFleet,
  startManager,
  stopProc,
  type ManagerJson,
  type ManagerProc,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const HOSTS = ['127.0.22.11', '127.0.22.12', '127.0.22.13'];

async function leaderOf(target: Pick<ManagerProc, 'address' | 'identity'>): Promise<ManagerJson> {
  return waitFor(
    async () => {
      const ms = await cliJson<ManagerJson[]>(target, ['manager', 'ls']).catch(() => []);
      return ms.find((m) => m.leader && m.reachable) ?? null;
    },
    { what: 'a leader', timeoutMs: 30_000, intervalMs: 250 },
  );
}

test('after the leader is killed, numbering goes on and a follower prints every event once', async () => {
  const managers: ManagerProc[] = [];
  for (const host of HOSTS) {
    const first = managers[0];
    managers.push(await startManager({ host, ...(first ? { join: first } : {}) }));
  }
  const target = clusterTarget(managers);
  const t0 = Date.now() - 1000;
  const follower = spawnFleet(
    ['events', '--filter', 'type=service', '--host', target.address, '--identity', target.identity],
    `${managers[0]?.dataDir ?? ''}-follow.log`,
  );
  let out = '';
  follower.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await waitFor(
      async () => {
        const ms = await cliJson<ManagerJson[]>(target, ['manager', 'ls']);
        return ms.filter((m) => m.raft === 'voter' && m.reachable).length === 3 ? ms : null;
      },
      { what: 'three voting managers', timeoutMs: 30_000, intervalMs: 250 },
    );
    const create = (name: string) =>
      cliOk(target, [
        'service',
        'create',
        '--name',
        name,
        '--detach',
        '--replicas',
        '0',
        'busybox',
      ]);
    await create('before');
    await waitFor(() => (out.includes('service created before') ? true : null), {
      what: 'the follower to print the first service',
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    const leader = await leaderOf(target);
    const dead = managers.find((m) => m.address === leader.address);
    assert.ok(dead, `the leader ${leader.address} is one of ours`);
    await stopProc(dead.proc, 'SIGKILL');
    const others = clusterTarget(managers.filter((m) => m !== dead));
    const next = await leaderOf(others);
    assert.notEqual(next.id, leader.id);
    await create('after');
    await waitFor(() => (out.includes('service created after') ? true : null), {
      what: 'the follower to print the second service through the failover',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    assert.equal(out.split('service created before').length, 2, `printed once:\n${out}`);

    const r = await cli(others, [
      'events',
      '--since',
      new Date(t0).toISOString(),
      '--until',
      new Date().toISOString(),
      '--format',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as FleetEvent);
    const seqs = events.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'in sequence order',
    );
    assert.equal(new Set(seqs).size, seqs.length, 'no sequence number twice');
    const elected = events.filter((e) => e.action === 'leader elected').map((e) => e.actor.id);
    assert.ok(
      elected.includes(next.id),
      `the new leader's election is recorded: ${elected.join()}`,
    );
    const created = (name: string) =>
      events.find((e) => e.type === 'service' && e.action === 'created' && e.actor.name === name);
    assert.ok((created('before')?.seq ?? Infinity) < (created('after')?.seq ?? -1));
  } finally {
    await stopProc(follower);
    for (const m of managers) await stopProc(m.proc);
    for (const m of managers) await fs.rm(m.dataDir, { recursive: true, force: true });
  }
});
