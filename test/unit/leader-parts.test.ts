// Leader-only parts on a fake clock: membership's periodic pass, the ingress table's debounce, and their stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../manager/broker/broker.js';
import { IngressPublisher } from '../../manager/ingress/publisher.js';
import { MembershipController, type MembershipHost } from '../../manager/leader/membership.js';
import type { Status } from '../../manager/raft/core/index.js';
import { Store } from '../../manager/store/store.js';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger, silentLogger } from '../../shared/log.js';
import { topics } from '../../shared/protocol.js';
import { nodeRecord } from '../helpers/records.js';

/** A leader with voter `a` and learner `b`, caught up; records which changes it was asked for. */
function fakeHost(): MembershipHost & { asked: string[] } {
  const asked: string[] = [];
  const progress = (learner: boolean) => ({
    match: 10,
    next: 11,
    state: 'replicate' as const,
    recentActive: true,
    learner,
  });
  const status: Status = {
    id: 'a',
    term: 2,
    vote: 'a',
    role: 'leader',
    leader: 'a',
    commit: 10,
    applied: 10,
    firstIndex: 1,
    lastIndex: 10,
    conf: { voters: ['a'], learners: ['b'] },
    progress: { a: progress(false), b: progress(true) },
    leadTransferee: null,
  };
  return {
    asked,
    isLeader: true,
    status: () => status,
    transferLeadership: (to: string) => void asked.push(`transfer ${to}`),
    changeMembership: async (cc) => void asked.push(`${cc.op} ${cc.id}`),
  };
}

test('membership looks at the records every half second of the clock, only while started', async () => {
  const store = new Store(':memory:');
  try {
    store.apply({
      commands: ['a', 'b'].map((id) => ({
        type: 'node.put' as const,
        node: nodeRecord(id, { role: 'manager' }),
      })),
    });
    const clock = new FakeClock();
    const host = fakeHost();
    const m = new MembershipController({
      self: 'a',
      host,
      store,
      logger: memoryLogger(),
      clock,
    });
    await clock.advanceAsync(5_000);
    assert.deepEqual(host.asked, [], 'nothing before start');
    m.start();
    await clock.advanceAsync(499);
    assert.deepEqual(host.asked, [], 'the first pass comes a period after start');
    await clock.advanceAsync(1);
    assert.deepEqual(host.asked, ['add-voter b'], 'the caught-up learner is promoted');
    m.stop();
    assert.equal(clock.pending, 0, 'stop clears the timer');
    await clock.advanceAsync(5_000);
    assert.deepEqual(host.asked, ['add-voter b']);
  } finally {
    store.close();
  }
});

test('the ingress table goes out once per burst of changes, 50 ms of the clock later', async () => {
  const store = new Store(':memory:');
  try {
    const clock = new FakeClock();
    const sent: { topic: string; bytes: number; retain: boolean | undefined }[] = [];
    const broker = {
      publish: async (topic: string, payload: Buffer, opts?: { retain?: boolean }) =>
        void sent.push({ topic, bytes: payload.length, retain: opts?.retain }),
    } as unknown as Pick<Broker, 'publish'>;
    const p = new IngressPublisher({ store, broker, logger: silentLogger, clock });
    p.start();
    clock.advance(49);
    assert.equal(sent.length, 0, 'debounced');
    clock.advance(1);
    assert.equal(sent.length, 1, 'the first table');
    assert.equal(sent[0]?.topic, topics.ingressTable());
    assert.equal(sent[0]?.retain, true);
    for (const id of ['n1', 'n2', 'n3'])
      store.apply({ commands: [{ type: 'node.put', node: nodeRecord(id) }] });
    clock.advance(50);
    // The table has no ports either way, but its version moved on with the store.
    assert.equal(sent.length, 1, 'content unchanged: not sent again');
    p.stop();
    assert.equal(clock.pending, 0, 'stop clears the timer');
    assert.deepEqual(sent.at(-1), { topic: topics.ingressTable(), bytes: 0, retain: true });
    store.apply({ commands: [{ type: 'node.put', node: nodeRecord('n4') }] });
    clock.advance(1_000);
    assert.equal(sent.length, 2, 'stopped: the store is no longer watched');
  } finally {
    store.close();
  }
});
