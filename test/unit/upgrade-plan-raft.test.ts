// The agent upgrade wave and the Raft group: a manager starts only when the others keep the quorum, and counts as back only once it votes and caught up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { NodeRecord } from '../../shared/spec.js';
import { planWave, type RaftHealth } from '../../manager/upgrader/plan.js';
import { newRollout } from '../../manager/upgrader/select.js';
import { nodeRecord } from '../helpers/records.js';

const OLD = '0.1.0';
const NEW = '0.2.0';
const RELEASES = new Map([[NEW, { nodeMin: '20.0.0' }]]);

function managers(names: string[]): Map<string, NodeRecord> {
  return new Map(
    names.map((n) => [
      n,
      nodeRecord(n, { role: 'manager', agentVersion: OLD, nodeVersion: '22.1.0' }),
    ]),
  );
}

function rolloutOf(nodes: Map<string, NodeRecord>): RolloutRecord {
  return newRollout({
    id: 'r1',
    release: NEW,
    nodes: [...nodes.values()],
    settings: { monitorMs: 5_000 },
    now: 0,
  });
}

function raftOf(voters: string[], unhealthy: Set<string>): RaftHealth {
  return { voters, healthy: (id) => !unhealthy.has(id) };
}

const stateOf = (r: RolloutRecord, name: string): string | undefined =>
  r.nodes.find((n) => n.name === name)?.state;

test('no manager is stopped while another voter is out of touch: with 3, that would lose the quorum', () => {
  const nodes = managers(['m1', 'm2', 'm3']);
  const down = new Set(['m3']);
  const raft = raftOf(['m1', 'm2', 'm3'], down);
  const r = rolloutOf(nodes);
  const held = planWave(r, { nodes, releases: RELEASES, now: 0, leaderId: 'm1', raft });
  const after = held.rollout ?? r;
  assert.deepEqual(
    after.nodes.map((n) => n.state),
    ['pending', 'pending', 'pending'],
  );
  assert.match(
    after.message,
    /manager m2 waits: only 1 of the other 2 managers are in touch and caught up; 2 of 3 must stay up/,
  );
  down.clear();
  const go = planWave(after, { nodes, releases: RELEASES, now: 1_000, leaderId: 'm1', raft });
  assert.equal(stateOf(go.rollout ?? after, 'm2'), 'upgrading', 'not the leader first');
  assert.equal(stateOf(go.rollout ?? after, 'm1'), 'pending');
});

test('with 5 voters one out of touch leaves room for one more to stop', () => {
  const names = ['m1', 'm2', 'm3', 'm4', 'm5'];
  const nodes = managers(names);
  const raft = raftOf(names, new Set(['m5']));
  const step = planWave(rolloutOf(nodes), {
    nodes,
    releases: RELEASES,
    now: 0,
    leaderId: 'm1',
    raft,
  });
  assert.equal(stateOf(step.rollout ?? rolloutOf(nodes), 'm2'), 'upgrading');
});

test('an upgraded manager counts as back only once it votes and has caught up in Raft', () => {
  const nodes = managers(['m1', 'm2', 'm3']);
  const behind = new Set<string>();
  const raft = raftOf(['m1', 'm2', 'm3'], behind);
  let r = planWave(rolloutOf(nodes), {
    nodes,
    releases: RELEASES,
    now: 0,
    leaderId: 'm1',
    raft,
  }).rollout;
  assert.ok(r);
  assert.equal(stateOf(r, 'm2'), 'upgrading');
  // m2 reports the release and its node is ready, but its log is not caught up yet.
  const m2 = nodes.get('m2');
  assert.ok(m2);
  nodes.set('m2', { ...m2, agentVersion: NEW });
  behind.add('m2');
  r = planWave(r, { nodes, releases: RELEASES, now: 1_000, leaderId: 'm1', raft }).rollout ?? r;
  assert.equal(stateOf(r, 'm2'), 'upgrading');
  r = planWave(r, { nodes, releases: RELEASES, now: 20_000, leaderId: 'm1', raft }).rollout ?? r;
  assert.equal(stateOf(r, 'm2'), 'upgrading', 'still not counted while behind');
  assert.equal(stateOf(r, 'm3'), 'pending', 'and the next manager waits');
  behind.clear();
  r = planWave(r, { nodes, releases: RELEASES, now: 21_000, leaderId: 'm1', raft }).rollout ?? r;
  assert.equal(stateOf(r, 'm2'), 'monitoring');
  r = planWave(r, { nodes, releases: RELEASES, now: 26_000, leaderId: 'm1', raft }).rollout ?? r;
  assert.equal(stateOf(r, 'm2'), 'done');
  assert.equal(stateOf(r, 'm3'), 'upgrading');
});
