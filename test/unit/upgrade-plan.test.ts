// The agent upgrade wave on a fake clock: parallelism, delay, monitor, failure ratio, pause, rollback, canaries, managers last.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutRecord, RolloutSettings } from '../../shared/ota/rollout-record.js';
import type { NodeRecord } from '../../shared/spec.js';
import { planWave } from '../../manager/upgrader/plan.js';
import { resumed, startRollback } from '../../manager/upgrader/rollback.js';
import { newRollout } from '../../manager/upgrader/select.js';
import { nodeRecord } from '../helpers/records.js';

const OLD = '0.1.0';
const NEW = '0.2.0';
const RELEASES = new Map([
  [OLD, { nodeMin: '18.0.0' }],
  [NEW, { nodeMin: '20.0.0' }],
]);

interface Board {
  /** Seconds from being asked to reporting the new version. */
  switchS?: number;
  /** Falls back with this reason instead of switching. */
  failWith?: string;
  /** Never answers. */
  silent?: boolean;
}

/** A fleet of boards that follow their rollout targets, driven one fake second at a time. */
class Fleet {
  now = 0;
  nodes = new Map<string, NodeRecord>();
  rollout: RolloutRecord;
  readonly boards = new Map<string, Board>();
  private readonly askedAt = new Map<string, number>();
  maxInflight = 0;
  maxManagersInflight = 0;
  /** Node names in the order they were first asked for something. */
  readonly started: string[] = [];
  startTimes = new Map<string, number>();

  constructor(
    names: string[],
    settings: Partial<RolloutSettings>,
    opts: { managers?: string[]; boards?: Record<string, Board>; releases?: typeof RELEASES } = {},
  ) {
    for (const name of names) {
      const role = opts.managers?.includes(name) ? 'manager' : 'worker';
      this.nodes.set(name, nodeRecord(name, { role, agentVersion: OLD, nodeVersion: '22.1.0' }));
      this.boards.set(name, opts.boards?.[name] ?? {});
    }
    this.rollout = newRollout({
      id: 'r1',
      release: NEW,
      nodes: [...this.nodes.values()],
      settings,
      now: 0,
    });
    this.releases = opts.releases ?? RELEASES;
  }
  releases: typeof RELEASES;
  leaderId: string | undefined;

  /** Runs until the rollout stops moving or `limitS` fake seconds pass. */
  run(limitS = 3600): RolloutRecord {
    for (; this.now <= limitS * 1000; this.now += 1000) {
      this.boardsAct();
      const step = planWave(this.rollout, {
        nodes: this.nodes,
        releases: this.releases,
        now: this.now,
        ...(this.leaderId ? { leaderId: this.leaderId } : {}),
      });
      if (step.rollout) this.rollout = step.rollout;
      this.note();
      if (step.rollout === undefined && step.wakeAt === null && this.idle()) break;
    }
    return this.rollout;
  }

  private idle(): boolean {
    return !['updating', 'rolling back'].includes(this.rollout.state);
  }

  private boardsAct(): void {
    for (const entry of this.rollout.nodes) {
      const rec = this.nodes.get(entry.nodeId);
      const board = this.boards.get(entry.nodeId) ?? {};
      if (!rec || !entry.target || entry.target === rec.agentVersion) {
        this.askedAt.delete(entry.nodeId);
        continue;
      }
      const asked = this.askedAt.get(entry.nodeId) ?? this.now;
      this.askedAt.set(entry.nodeId, asked);
      if (board.silent || this.now - asked < (board.switchS ?? 5) * 1000) continue;
      if (board.failWith && entry.target === NEW) {
        const u = { state: 'failed' as const, version: NEW, reason: board.failWith, at: this.now };
        this.nodes.set(rec.id, { ...rec, agentUpgrade: u });
      } else this.nodes.set(rec.id, { ...rec, agentVersion: entry.target });
    }
  }

  private note(): void {
    const inflight = this.rollout.nodes.filter((n) =>
      ['upgrading', 'monitoring'].includes(n.state),
    );
    this.maxInflight = Math.max(this.maxInflight, inflight.length);
    this.maxManagersInflight = Math.max(
      this.maxManagersInflight,
      inflight.filter((n) => n.manager).length,
    );
    for (const n of inflight) {
      if (!this.startTimes.has(n.name)) {
        this.started.push(n.name);
        this.startTimes.set(n.name, this.now);
      }
    }
  }

  state(name: string) {
    return this.rollout.nodes.find((n) => n.name === name);
  }
}

test('parallelism 1 upgrades one node at a time and every node ends on the release', () => {
  const f = new Fleet(['w1', 'w2', 'w3'], { parallelism: 1, monitorMs: 10_000 });
  const r = f.run();
  assert.equal(r.state, 'completed', r.message);
  assert.equal(f.maxInflight, 1);
  assert.deepEqual(f.started, ['w1', 'w2', 'w3']);
  for (const n of f.nodes.values()) assert.equal(n.agentVersion, NEW);
  assert.match(r.message, /upgrade to 0\.2\.0 completed: 3 node\(s\) upgraded/);
});

test('parallelism 2 keeps two nodes in flight', () => {
  const f = new Fleet(['w1', 'w2', 'w3', 'w4'], { parallelism: 2, monitorMs: 10_000 });
  assert.equal(f.run().state, 'completed');
  assert.equal(f.maxInflight, 2);
  assert.equal(f.startTimes.get('w1'), f.startTimes.get('w2'));
});

test('a node is done only after reporting the release and staying ready for the monitor period', () => {
  const f = new Fleet(['w1', 'w2'], { monitorMs: 30_000 }, { boards: { w1: { switchS: 5 } } });
  f.run();
  // w1 hears at 1s, reports the release at 6s, is watched for 30s; w2 starts once it is done.
  assert.equal(f.startTimes.get('w2'), 36_000);
});

test('a node that goes down within the monitor period is watched again from its return', () => {
  const f = new Fleet(['w1'], { monitorMs: 30_000, downloadMs: 60_000 });
  f.run(20);
  assert.equal(f.state('w1')?.state, 'monitoring');
  const rec = f.nodes.get('w1');
  assert.ok(rec);
  f.nodes.set('w1', { ...rec, status: 'down' });
  f.run(25);
  assert.equal(f.state('w1')?.state, 'upgrading');
  f.nodes.set('w1', { ...rec, status: 'ready' });
  f.run();
  assert.equal(f.state('w1')?.state, 'done');
  assert.ok((f.state('w1')?.settledAt ?? 0) >= 55_000);
});

test('--delay waits after each node settles before the next starts', () => {
  const f = new Fleet(['w1', 'w2'], { monitorMs: 10_000, delayMs: 20_000 });
  f.run();
  // w1 hears at 1s, reports at 6s, is done at 16s; w2 starts 20s later.
  assert.equal(f.startTimes.get('w2'), 36_000);
});

test('a failing node pauses the wave, naming the node and the fallback reason', () => {
  const f = new Fleet(
    ['w1', 'w2', 'w3'],
    { monitorMs: 5_000 },
    {
      boards: { w2: { failWith: 'exited at start with code 1' } },
    },
  );
  const r = f.run();
  assert.equal(r.state, 'paused');
  assert.match(
    r.message,
    /upgrade paused: node w2 failed: its agent fell back: exited at start with code 1 \(1 of 3 failed\)/,
  );
  assert.equal(f.state('w3')?.state, 'pending');
  assert.equal(f.state('w2')?.target, OLD, 'the failed node is no longer asked for the release');
  assert.equal(f.started.includes('w3'), false);
});

test('a ratio of tolerated failures lets the wave go on', () => {
  const f = new Fleet(
    ['w1', 'w2', 'w3', 'w4'],
    { monitorMs: 5_000, maxFailureRatio: 0.25 },
    {
      boards: { w1: { failWith: 'no connection within 60s' } },
    },
  );
  const r = f.run();
  assert.equal(r.state, 'completed');
  assert.match(r.message, /completed with 1 failed node\(s\): 3 upgraded/);
});

test('--failure-action continue upgrades the rest whatever fails', () => {
  const f = new Fleet(
    ['w1', 'w2', 'w3'],
    { monitorMs: 5_000, failureAction: 'continue' },
    {
      boards: { w1: { failWith: 'self-check failed: no runtime' }, w2: { failWith: 'x' } },
    },
  );
  assert.equal(f.run().state, 'completed');
  assert.equal(f.nodes.get('w3')?.agentVersion, NEW);
});

test('a node that never reports the release fails after the download allowance and the monitor', () => {
  const f = new Fleet(
    ['w1', 'w2'],
    { monitorMs: 10_000, downloadMs: 60_000 },
    {
      boards: { w1: { silent: true } },
    },
  );
  const r = f.run();
  assert.equal(r.state, 'paused');
  assert.match(
    r.message,
    /node w1 failed: did not report 0\.2\.0 within 70s \(reports 0\.1\.0, ready\)/,
  );
  assert.equal(f.state('w1')?.settledAt, 70_000);
});

test('a node whose Node.js is older than the release needs fails without being asked', () => {
  const f = new Fleet(['w1', 'w2'], {});
  const rec = f.nodes.get('w1');
  assert.ok(rec);
  f.nodes.set('w1', { ...rec, nodeVersion: '18.19.0' });
  const r = f.run();
  assert.equal(r.state, 'paused');
  assert.match(
    r.message,
    /node w1 failed: release 0\.2\.0 needs Node\.js 20\.0\.0 or later, the node has 18\.19\.0/,
  );
  assert.equal(f.started.length, 0);
});

test('failure action rollback sends the upgraded nodes back to the release they ran', () => {
  const f = new Fleet(
    ['w1', 'w2', 'w3'],
    { monitorMs: 5_000, failureAction: 'rollback' },
    {
      boards: { w2: { failWith: 'exited at start with code 1' } },
    },
  );
  const r = f.run();
  assert.equal(r.state, 'rolled back', r.message);
  assert.equal(r.kind, 'rollback');
  assert.match(r.message, /^rolled back: upgrade failed: node w2 failed/);
  for (const n of f.nodes.values()) assert.equal(n.agentVersion, OLD);
  assert.equal(f.state('w1')?.target, OLD);
  assert.equal(f.state('w3')?.state, 'skipped');
});

test('a rollback whose previous release is gone pauses with the reason', () => {
  const releases = new Map([[NEW, { nodeMin: '20.0.0' }]]);
  const f = new Fleet(
    ['w1', 'w2'],
    { monitorMs: 5_000, failureAction: 'rollback' },
    {
      boards: { w2: { failWith: 'exited at start with code 1' } },
      releases,
    },
  );
  const r = f.run();
  assert.equal(r.state, 'paused');
  assert.match(
    r.message,
    /cannot roll back: node w1's previous release 0\.1\.0 is no longer stored/,
  );
  assert.equal(f.nodes.get('w1')?.agentVersion, NEW);
});

test('a completed rollout can be rolled back on request', () => {
  const f = new Fleet(['w1', 'w2'], { monitorMs: 5_000 });
  assert.equal(f.run().state, 'completed');
  const r = structuredClone(f.rollout);
  assert.equal(startRollback(r, RELEASES, f.now, 'requested'), null);
  f.rollout = r;
  assert.equal(f.run(7200).state, 'rolled back');
  for (const n of f.nodes.values()) assert.equal(n.agentVersion, OLD);
});

test('managers go last, one at a time, the leader last of all', () => {
  const f = new Fleet(
    ['m1', 'm2', 'm3', 'w1', 'w2'],
    { parallelism: 3, monitorMs: 5_000 },
    {
      managers: ['m1', 'm2', 'm3'],
    },
  );
  f.leaderId = 'm1';
  assert.equal(f.run().state, 'completed');
  assert.deepEqual(f.started, ['w1', 'w2', 'm2', 'm3', 'm1']);
  assert.equal(f.maxManagersInflight, 1);
  const managerStarts = ['m2', 'm3', 'm1'].map((m) => f.startTimes.get(m) ?? 0);
  const workersDone = Math.max(...['w1', 'w2'].map((w) => f.state(w)?.settledAt ?? 0));
  assert.ok((managerStarts[0] ?? 0) >= workersDone);
});

test('a manager waits while another manager is not ready (quorum)', () => {
  const f = new Fleet(['m1', 'm2', 'm3'], { monitorMs: 5_000 }, { managers: ['m1', 'm2', 'm3'] });
  const m3 = f.nodes.get('m3');
  assert.ok(m3);
  f.nodes.set('m3', { ...m3, status: 'down' });
  f.run(60);
  assert.equal(f.started.length, 0);
  f.nodes.set('m3', { ...m3, status: 'ready' });
  assert.equal(f.run().state, 'completed');
});

test('canaries go first, then the wave waits for --resume', () => {
  const f = new Fleet(['w1', 'w2', 'w3'], { monitorMs: 5_000, canary: 1 });
  const r = f.run();
  assert.equal(r.state, 'paused');
  assert.match(
    r.message,
    /1 canary node\(s\) upgraded to 0\.2\.0: run "fleet node upgrade --resume"/,
  );
  assert.deepEqual(f.started, ['w1']);
  f.rollout = resumed(r, f.now);
  assert.equal(f.run(7200).state, 'completed');
});

test('a node that runs the release already is skipped', () => {
  const f = new Fleet(['w1', 'w2'], {});
  const rec = f.nodes.get('w1');
  assert.ok(rec);
  f.nodes.set('w1', { ...rec, agentVersion: NEW });
  f.rollout = newRollout({
    id: 'r2',
    release: NEW,
    nodes: [...f.nodes.values()],
    settings: {},
    now: 0,
  });
  assert.equal(f.state('w1')?.state, 'skipped');
  assert.equal(f.run().state, 'completed');
  assert.deepEqual(f.started, ['w2']);
});

test('a node removed from the fleet mid-upgrade is skipped, not counted as failed', () => {
  const f = new Fleet(['w1', 'w2'], { monitorMs: 5_000 }, { boards: { w1: { silent: true } } });
  f.run(3);
  assert.equal(f.state('w1')?.state, 'upgrading');
  f.nodes.delete('w1');
  const r = f.run();
  assert.equal(r.state, 'completed', r.message);
  assert.equal(f.state('w1')?.state, 'skipped');
  assert.equal(r.failures, 0);
});
