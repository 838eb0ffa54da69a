// The membership controller's decision: which single Raft membership step the node records call for next.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextMembershipStep } from '../../manager/leader/membership.js';
import type { Progress, Status } from '../../manager/raft/core/index.js';

type Role = 'worker' | 'manager';

interface Peer {
  match: number;
  active?: boolean;
}

/** The leader's status: `self` leads, with the given members and their progress. */
function status(
  self: string,
  conf: { voters: string[]; learners?: string[] },
  commit: number,
  progress: Record<string, Peer> = {},
): Status {
  const learners = conf.learners ?? [];
  const prs: Record<string, Progress> = {};
  for (const id of [...conf.voters, ...learners]) {
    const p = id === self ? { match: commit, active: true } : (progress[id] ?? { match: 0 });
    prs[id] = {
      match: p.match,
      next: p.match + 1,
      state: 'replicate',
      recentActive: p.active ?? true,
      learner: learners.includes(id),
    };
  }
  return {
    id: self,
    term: 3,
    vote: self,
    role: 'leader',
    leader: self,
    commit,
    applied: commit,
    firstIndex: 1,
    lastIndex: commit,
    conf: { voters: conf.voters, learners },
    progress: prs,
    leadTransferee: null,
  };
}

const roles =
  (r: Record<string, Role>) =>
  (id: string): Role | undefined =>
    r[id];

const managers = (...ids: string[]): Record<string, Role> =>
  Object.fromEntries(ids.map((id) => [id, 'manager' as const]));

test('nothing to do when every voter is a manager and there is no learner', () => {
  const s = status('a', { voters: ['a', 'b', 'c'] }, 100, { b: { match: 100 }, c: { match: 90 } });
  assert.equal(nextMembershipStep('a', s, roles(managers('a', 'b', 'c'))), null);
  assert.equal(
    nextMembershipStep('a', status('a', { voters: ['a'] }, 5), roles(managers('a'))),
    null,
  );
});

test('a caught-up learner whose record says manager is promoted', () => {
  const s = status('a', { voters: ['a'], learners: ['b'] }, 100, { b: { match: 100 } });
  assert.deepEqual(nextMembershipStep('a', s, roles(managers('a', 'b'))), {
    kind: 'promote',
    id: 'b',
  });
  // Within the slack: close enough to vote without stalling commits.
  const close = status('a', { voters: ['a'], learners: ['b'] }, 100, { b: { match: 80 } });
  assert.deepEqual(nextMembershipStep('a', close, roles(managers('a', 'b'))), {
    kind: 'promote',
    id: 'b',
  });
});

test('a learner that lags, is unreachable, or is not a manager stays a learner', () => {
  const who = roles(managers('a', 'b'));
  const lagging = status('a', { voters: ['a'], learners: ['b'] }, 100, { b: { match: 79 } });
  assert.equal(nextMembershipStep('a', lagging, who), null);
  const fresh = status('a', { voters: ['a'], learners: ['b'] }, 100, { b: { match: 0 } });
  assert.equal(nextMembershipStep('a', fresh, who), null);
  const silent = status('a', { voters: ['a'], learners: ['b'] }, 100, {
    b: { match: 100, active: false },
  });
  assert.equal(nextMembershipStep('a', silent, who), null);
  const worker = status('a', { voters: ['a'], learners: ['b'] }, 100, { b: { match: 100 } });
  assert.equal(nextMembershipStep('a', worker, roles({ a: 'manager', b: 'worker' })), null);
  // Without the leader's view of its progress nothing is known of it.
  const unknown = { ...worker, progress: undefined };
  assert.equal(nextMembershipStep('a', unknown, who), null);
});

test('only caught-up learners are promoted, one at a time', () => {
  const s = status('a', { voters: ['a'], learners: ['b', 'c'] }, 100, {
    b: { match: 10 },
    c: { match: 99 },
  });
  assert.deepEqual(nextMembershipStep('a', s, roles(managers('a', 'b', 'c'))), {
    kind: 'promote',
    id: 'c',
  });
});

test('a demoted voter becomes a learner', () => {
  const s = status('a', { voters: ['a', 'b', 'c'] }, 100, { b: { match: 100 }, c: { match: 100 } });
  assert.deepEqual(nextMembershipStep('a', s, roles({ a: 'manager', b: 'manager', c: 'worker' })), {
    kind: 'demote',
    id: 'c',
  });
});

test('a demoted leader first hands leadership to the most caught-up reachable voter', () => {
  const s = status('b', { voters: ['a', 'b', 'c', 'd'] }, 100, {
    a: { match: 90 },
    c: { match: 95 },
    d: { match: 100, active: false },
  });
  const who = roles({ a: 'manager', b: 'worker', c: 'manager', d: 'manager' });
  assert.deepEqual(nextMembershipStep('b', s, who), { kind: 'transfer', to: 'c' });
});

test('a demoted leader with no reachable voter to hand over to stays, and a sole voter is never demoted', () => {
  const s = status('a', { voters: ['a', 'b', 'c'] }, 100, {
    b: { match: 100, active: false },
    c: { match: 100, active: false },
  });
  assert.equal(
    nextMembershipStep('a', s, roles({ a: 'worker', b: 'manager', c: 'manager' })),
    null,
  );
  const alone = status('a', { voters: ['a'] }, 100);
  assert.equal(nextMembershipStep('a', alone, roles({ a: 'worker' })), null);
});

test('a member without a node record is removed', () => {
  const voter = status('a', { voters: ['a', 'b', 'c'] }, 100, {
    b: { match: 100 },
    c: { match: 100 },
  });
  assert.deepEqual(nextMembershipStep('a', voter, roles(managers('a', 'b'))), {
    kind: 'remove',
    id: 'c',
  });
  const learner = status('a', { voters: ['a'], learners: ['b'] }, 100, { b: { match: 100 } });
  assert.deepEqual(nextMembershipStep('a', learner, roles(managers('a'))), {
    kind: 'remove',
    id: 'b',
  });
  // Removal comes before any promotion or demotion.
  const busy = status('a', { voters: ['a', 'b', 'c'], learners: ['d'] }, 100, {
    b: { match: 100 },
    c: { match: 100 },
    d: { match: 100 },
  });
  assert.deepEqual(
    nextMembershipStep('a', busy, roles({ a: 'manager', b: 'worker', d: 'manager' })),
    {
      kind: 'remove',
      id: 'c',
    },
  );
});

test('neither the leader itself nor the last voter is removed for a missing record', () => {
  const s = status('a', { voters: ['a', 'b'] }, 100, { b: { match: 100 } });
  assert.equal(nextMembershipStep('a', s, roles(managers('b'))), null);
  assert.equal(nextMembershipStep('a', status('a', { voters: ['a'] }, 100), roles({})), null);
  // A leader on its way out (already a learner): the only voter left is kept whatever its record.
  const leaving = status('a', { voters: ['b'], learners: ['a'] }, 100, { b: { match: 100 } });
  assert.equal(nextMembershipStep('a', leaving, roles({})), null);
});
