// Following the leader without a network: address comparison, host bookkeeping, retry decisions, pacing, stale assignments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOlderAssignment } from '../../agent/reconcile/assignment-store.js';
import { LeaderFollower, MAX_SWITCH_BACKOFF_MS } from '../../agent/link/leader-follow.js';
import {
  CallPlan,
  HostBook,
  MAX_REDIRECTS,
  ManagerError,
  RETRY_BACKOFF_MS,
} from '../../manager/cli/failover.js';
import { FleetError } from '../../shared/errors.js';
import {
  addressesOf,
  leaderElsewhere,
  mergeAddresses,
  normalizeAddress,
  sameAddress,
} from '../../shared/leader.js';
import type { Assignment, LeaderInfo } from '../../shared/protocol.js';

const A = { id: 'm-a', address: '127.0.0.2:4883' };
const B = { id: 'm-b', address: '127.0.0.3:4883' };
const C = { id: 'm-c', address: '127.0.0.4:4883' };

const info = (from: string, leader: typeof A | null, managers = [A, B, C]): LeaderInfo => ({
  v: 1,
  from,
  term: 2,
  leader,
  managers,
});

test('addresses compare equal whatever their spelling', () => {
  assert.equal(normalizeAddress(' Manager-1 '), 'manager-1:4883');
  assert.equal(normalizeAddress('[::1]:5000'), '[::1]:5000');
  assert.equal(normalizeAddress('::1'), '[::1]:4883');
  assert.equal(normalizeAddress('[::ffff:127.0.0.2]:4883'), '127.0.0.2:4883');
  assert.ok(sameAddress('127.0.0.2', '127.0.0.2:4883'));
  assert.ok(sameAddress('HOST:1', 'host:1'));
  assert.ok(!sameAddress('127.0.0.2:4883', '127.0.0.2:4884'));
  assert.ok(!sameAddress('127.0.0.2:4883', '127.0.0.3:4883'));
});

test('merged address lists keep order and drop duplicates', () => {
  assert.deepEqual(mergeAddresses(['a:1', 'b'], ['A:1', 'c:2', 'b:4883', '']), ['a:1', 'b', 'c:2']);
  assert.deepEqual(addressesOf(info('m-a', B)), [B.address, A.address, C.address]);
  assert.deepEqual(addressesOf(info('m-a', null, [A])), [A.address]);
});

test('an agent moves only when its manager names another leader', () => {
  assert.equal(leaderElsewhere(info('m-a', B), A.address), B.address);
  assert.equal(leaderElsewhere(info('m-a', A), A.address), null, 'it leads');
  assert.equal(leaderElsewhere(info('m-a', null), A.address), null, 'election running');
  // Reached under another name than the one it advertises: the id says it is the leader.
  assert.equal(leaderElsewhere(info('m-a', A), 'manager-a.local:4883'), null);
  assert.equal(leaderElsewhere(info('m-x', A), '127.0.0.2'), null, 'same address');
});

test('the host book learns managers once, under the name already in use', () => {
  const book = new HostBook(['manager-a:4883']);
  // Manager A is known to the user by a name; its info lists it by address.
  book.learn(info('m-a', A), 'manager-a:4883');
  assert.deepEqual(book.addresses, ['manager-a:4883', B.address, C.address]);
  assert.equal(book.resolve(A.address, 'm-a'), 'manager-a:4883');
  assert.equal(book.resolve(B.address, 'm-b'), B.address);
  book.learn(info('m-b', A), B.address);
  assert.equal(book.size, 3);
  assert.equal(book.after('manager-a:4883'), B.address);
  assert.equal(book.after(C.address), 'manager-a:4883', 'wraps around');
});

test('a host learned under another name before its id was known is merged away', () => {
  const book = new HostBook(['manager-a:4883']);
  book.learn(info('m-b', B, [A, B]), 'unrelated:4883');
  assert.deepEqual(book.addresses, ['manager-a:4883', B.address, A.address]);
  book.learn(info('m-a', B, [A, B]), 'manager-a:4883');
  assert.deepEqual(book.addresses, ['manager-a:4883', B.address]);
});

const notLeader = (from: string, leader: typeof A | null): ManagerError =>
  new ManagerError('not_leader', 'not the leader', info(from, leader));

const HOSTS = [A.address, B.address, C.address];

test('a call follows at most MAX_REDIRECTS redirects, then fails clearly', () => {
  const plan = new CallPlan(10_000);
  for (let i = 0; i < MAX_REDIRECTS; i++) {
    assert.deepEqual(plan.next(notLeader('m-a', B), 0, A.address, HOSTS), {
      action: 'redirect',
      host: B.address,
      id: 'm-b',
    });
  }
  const last = plan.next(notLeader('m-a', B), 0, A.address, HOSTS);
  assert.equal(last.action, 'fail');
  assert.match(
    String(last.action === 'fail' && last.error instanceof Error && last.error.message),
    /gave up after 3 redirects.*127\.0\.0\.3:4883/,
  );
});

test('an election is waited out until the deadline, then reported', () => {
  const plan = new CallPlan(1_000);
  assert.deepEqual(plan.next(notLeader('m-a', null), 0, A.address, HOSTS), {
    action: 'wait',
    ms: RETRY_BACKOFF_MS,
  });
  // A manager naming itself while refusing is mid-election too.
  assert.equal(plan.next(notLeader('m-a', A), 0, A.address, HOSTS).action, 'wait');
  const r = plan.next(notLeader('m-a', null), 900, A.address, HOSTS);
  assert.equal(r.action, 'fail');
});

test('a leader that just died is not chased: the call asks again until a new one is named', () => {
  const plan = new CallPlan(10_000);
  const lost = new FleetError('unavailable', 'no manager answered');
  // B names the old leader A, which does not answer; B keeps naming it until its election.
  assert.equal(plan.next(notLeader('m-b', A), 0, B.address, HOSTS).action, 'redirect');
  assert.deepEqual(plan.next(lost, 10, A.address, HOSTS), {
    action: 'failover',
    host: B.address,
    ms: 0,
  });
  for (let t = 20; t < 900; t += 200)
    assert.equal(plan.next(notLeader('m-b', A), t, B.address, HOSTS).action, 'wait');
  // Then B names C, the new leader: a redirect, and the failed one did not use up the budget.
  for (let i = 0; i < MAX_REDIRECTS; i++)
    assert.equal(plan.next(notLeader('m-b', C), 1000, B.address, HOSTS).action, 'redirect');
});

test('no quorum moves on to the other managers, and fails once all of them say so', () => {
  const plan = new CallPlan(10_000);
  const noQuorum = new ManagerError('no_quorum', 'no quorum: 1 of 3 managers reachable');
  const lost = new FleetError('unavailable', 'no manager answered');
  assert.deepEqual(plan.next(noQuorum, 0, A.address, HOSTS), {
    action: 'failover',
    host: B.address,
    ms: 0,
  });
  assert.deepEqual(plan.next(lost, 0, B.address, HOSTS), {
    action: 'failover',
    host: C.address,
    ms: 0,
  });
  assert.deepEqual(plan.next(noQuorum, 0, C.address, HOSTS), { action: 'fail', error: noQuorum });
  // A manager still naming a leader that said "no quorum" is asked again, not followed there.
  const cut = new CallPlan(10_000);
  cut.next(noQuorum, 0, A.address, HOSTS);
  assert.equal(cut.next(notLeader('m-b', A), 0, B.address, HOSTS).action, 'wait');
});

test('a silent manager is failed over from while others are known, a refusal is not', () => {
  const plan = new CallPlan(1_000);
  const lost = new FleetError('unavailable', 'lost the connection');
  assert.deepEqual(plan.next(lost, 0, A.address, HOSTS), {
    action: 'failover',
    host: B.address,
    ms: 0,
  });
  assert.deepEqual(plan.next(lost, 0, B.address, HOSTS), {
    action: 'failover',
    host: C.address,
    ms: 0,
  });
  assert.deepEqual(plan.next(lost, 0, C.address, HOSTS), {
    action: 'failover',
    host: A.address,
    ms: RETRY_BACKOFF_MS,
  });
  assert.equal(plan.next(lost, 1_000, A.address, HOSTS).action, 'fail', 'past the deadline');
  assert.equal(
    new CallPlan(1_000).next(lost, 0, A.address, [A.address]).action,
    'fail',
    'no other host',
  );
  const said = new ManagerError('unavailable', 'cluster is not initialised');
  assert.equal(new CallPlan(1_000).next(said, 0, A.address, HOSTS).action, 'fail');
  const notFound = new ManagerError('not_found', 'service x not found');
  assert.deepEqual(new CallPlan(1_000).next(notFound, 0, A.address, HOSTS), {
    action: 'fail',
    error: notFound,
  });
});

test('an agent moves at most once a second, and backs off from an unreachable leader', () => {
  const f = new LeaderFollower();
  assert.equal(f.target(info('m-a', B), A.address), B.address);
  assert.equal(f.target(null, A.address), null);
  assert.equal(f.target(info('m-a', B), null), null, 'not connected');
  assert.equal(f.delay(5_000), 0);
  f.started(5_000);
  assert.equal(f.delay(5_400), 600);
  f.failed();
  assert.equal(f.delay(5_000), 2_000);
  for (let i = 0; i < 20; i++) f.failed();
  assert.equal(f.delay(5_000), MAX_SWITCH_BACKOFF_MS);
  f.succeeded();
  assert.equal(f.delay(6_000), 0);
});

const assignment = (version: number): Assignment => ({
  v: 1,
  version,
  nodeId: 'n1',
  heartbeatMs: 1_000,
  tasks: [],
});

test('an assignment older than the one running is ignored', () => {
  assert.ok(isOlderAssignment(assignment(4), assignment(5)));
  assert.ok(!isOlderAssignment(assignment(5), assignment(5)), 'the same one again is fine');
  assert.ok(!isOlderAssignment(assignment(6), assignment(5)));
  assert.ok(!isOlderAssignment(assignment(0), null), 'nothing running yet');
});
