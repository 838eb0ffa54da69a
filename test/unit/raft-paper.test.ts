// The Raft paper's rules (Ongaro & Ousterhout, 2014) as tests of the pure core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftNode } from '../../manager/raft/core/index.js';
import type {
  Entry,
  Message,
  NodeId,
  RaftBootState,
  Snapshot,
} from '../../manager/raft/core/index.js';

import { config, clusterBoot, Net } from '../helpers/raft-net.js';

// ---- helpers for hand-driven single nodes ----------------------------------------------

/** Boot with an explicit log of terms (index 1..n) under a snapshot at 0 holding the conf. */
function logBoot(voters: NodeId[], terms: number[], term: number, commit = 0): RaftBootState {
  const snapshot: Snapshot = {
    meta: { index: 0, term: 0, conf: { voters, learners: [] } },
    data: '',
  };
  const entries: Entry[] = terms.map((t, i) => ({
    index: i + 1,
    term: t,
    type: 'normal',
    data: `e${i + 1}`,
  }));
  return { hardState: { term, vote: null, commit }, snapshot, entries, applied: 0 };
}

function drain(n: RaftNode): Message[] {
  if (!n.hasReady()) return [];
  const rd = n.ready();
  n.advance();
  return rd.messages;
}

const msg = (m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message => m;

function logTerms(n: Net, id: NodeId): number[] {
  return n.disk(id).entries.map((e) => e.term);
}

// ---- §5.1 terms and roles -------------------------------------------------------------

test('servers start as followers', () => {
  const n = new RaftNode(config('a'), clusterBoot(['a', 'b', 'c']));
  assert.equal(n.status().role, 'follower');
  assert.equal(n.status().leader, null);
});

test('a server seeing a larger term updates its term and becomes follower (§5.1)', () => {
  for (const type of ['app', 'heartbeat', 'vote'] as const) {
    const net = new Net(['a', 'b', 'c']);
    const a = net.elect('a');
    const term = a.status().term;
    a.step(msg({ type, from: 'b', to: 'a', term: term + 5, index: 100, logTerm: term + 5 }));
    const st = a.status();
    assert.equal(st.role, 'follower', type);
    assert.equal(st.term, term + 5, type);
    assert.equal(st.leader, type === 'vote' ? null : 'b', type);
  }
});

test('a candidate seeing the larger term of a leader becomes follower', () => {
  const n = new RaftNode(config('a'), clusterBoot(['a', 'b', 'c']));
  n.campaign();
  assert.equal(n.status().role, 'candidate');
  n.step(msg({ type: 'heartbeat', from: 'b', to: 'a', term: 9, commit: 0 }));
  assert.deepEqual([n.status().role, n.status().term, n.status().leader], ['follower', 9, 'b']);
});

test('requests with a stale term are rejected (§5.1)', () => {
  const n = new RaftNode(config('a'), clusterBoot(['a', 'b', 'c']));
  n.step(msg({ type: 'heartbeat', from: 'b', to: 'a', term: 5, commit: 0 }));
  drain(n);
  n.step(msg({ type: 'vote', from: 'c', to: 'a', term: 4, index: 99, logTerm: 4 }));
  n.step(msg({ type: 'app', from: 'c', to: 'a', term: 4, index: 3, logTerm: 1, entries: [] }));
  const out = drain(n);
  assert.ok(out.every((m) => m.type !== 'vote-resp' || m.reject === true));
  assert.equal(n.status().term, 5);
  assert.equal(n.status().leader, 'b');
});

// ---- §5.2 leader election -------------------------------------------------------------

test('a leader sends heartbeats to all followers every heartbeat interval', () => {
  const net = new Net(['a', 'b', 'c'], { heartbeatTick: 2 });
  const a = net.elect('a');
  drain(a);
  a.tick();
  assert.equal(drain(a).filter((m) => m.type === 'heartbeat').length, 0);
  a.tick();
  const hb = drain(a).filter((m) => m.type === 'heartbeat');
  assert.deepEqual(hb.map((m) => m.to).sort(), ['b', 'c']);
});

test('a follower that hears nothing starts an election: new term, own vote, vote requests', () => {
  const n = new RaftNode(config('a'), clusterBoot(['a', 'b', 'c']));
  for (let i = 0; i < 20 && n.status().role === 'follower'; i++) n.tick();
  const st = n.status();
  assert.equal(st.role, 'candidate');
  assert.equal(st.term, 2);
  assert.equal(st.vote, 'a');
  const rd = n.ready();
  assert.deepEqual(rd.hardState, { term: 2, vote: 'a', commit: 3 });
  const votes = rd.messages.filter((m) => m.type === 'vote');
  assert.deepEqual(
    votes.map((m) => m.to),
    ['b', 'c'],
  );
  assert.ok(votes.every((m) => m.term === 2 && m.index === 3 && m.logTerm === 1));
});

test('election timeouts are randomized in [electionTick, 2*electionTick)', () => {
  const seen = new Set<number>();
  for (let s = 0; s < 30; s++) {
    let x = s;
    const random = (): number => {
      x = (x * 7919 + 13) % 1000;
      return x / 1000;
    };
    const n = new RaftNode({ ...config('a'), random }, clusterBoot(['a', 'b', 'c']));
    let ticks = 0;
    while (n.status().role === 'follower' && ticks < 100) {
      n.tick();
      ticks++;
    }
    assert.ok(ticks >= 10 && ticks < 20, `timeout ${ticks}`);
    seen.add(ticks);
  }
  assert.ok(seen.size > 3, 'timeouts vary');
});

test('a candidate wins with votes from a majority, and only then (§5.2)', () => {
  const cases: { size: number; grants: number; role: string }[] = [
    { size: 1, grants: 0, role: 'leader' },
    { size: 3, grants: 1, role: 'leader' },
    { size: 3, grants: 0, role: 'candidate' },
    { size: 5, grants: 2, role: 'leader' },
    { size: 5, grants: 1, role: 'candidate' },
  ];
  for (const c of cases) {
    const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, c.size);
    const n = new RaftNode(config('a'), clusterBoot(ids));
    n.campaign();
    for (const peer of ids.slice(1, 1 + c.grants)) {
      n.step(msg({ type: 'vote-resp', from: peer, to: 'a', term: 2, reject: false }));
    }
    assert.equal(n.status().role, c.role, JSON.stringify(c));
  }
});

test('a candidate denied by a majority steps back to follower', () => {
  const n = new RaftNode(config('a'), clusterBoot(['a', 'b', 'c']));
  n.campaign();
  n.step(msg({ type: 'vote-resp', from: 'b', to: 'a', term: 2, reject: true }));
  n.step(msg({ type: 'vote-resp', from: 'c', to: 'a', term: 2, reject: true }));
  assert.equal(n.status().role, 'follower');
  assert.equal(n.status().term, 2);
});

test('each server votes for at most one candidate in a term, first come first served', () => {
  const n = new RaftNode(config('a'), clusterBoot(['a', 'b', 'c']));
  n.step(msg({ type: 'vote', from: 'b', to: 'a', term: 2, index: 3, logTerm: 1 }));
  n.step(msg({ type: 'vote', from: 'c', to: 'a', term: 2, index: 3, logTerm: 1 }));
  n.step(msg({ type: 'vote', from: 'b', to: 'a', term: 2, index: 3, logTerm: 1 }));
  const rd = n.ready();
  assert.equal(rd.hardState?.vote, 'b');
  const resp = rd.messages.map((m) => `${m.to}:${m.reject ? 'no' : 'yes'}`);
  assert.deepEqual(resp, ['b:yes', 'c:no', 'b:yes']);
});

test('a candidate hearing from a leader of its term returns to follower', () => {
  const n = new RaftNode(config('a'), clusterBoot(['a', 'b', 'c']));
  n.campaign();
  n.step(
    msg({ type: 'app', from: 'b', to: 'a', term: 2, index: 3, logTerm: 1, entries: [], commit: 3 }),
  );
  assert.deepEqual([n.status().role, n.status().leader, n.status().term], ['follower', 'b', 2]);
});

test('split votes are resolved: a cluster always ends up with one leader', () => {
  const net = new Net(['a', 'b', 'c', 'd', 'e']);
  net.tick(60);
  assert.equal(net.leaders().length, 1);
  const term = net.node(net.leaders()[0] ?? '').status().term;
  for (const id of net.nodes.keys()) assert.equal(net.node(id).status().term, term);
});

// ---- §5.3 log replication -------------------------------------------------------------

test('a leader appends a proposal, replicates it, and commits it once a majority has it', () => {
  const net = new Net(['a', 'b', 'c']);
  const a = net.elect('a');
  const r = a.propose('x');
  assert.ok(r.ok);
  assert.equal(r.index, 5);
  net.stabilize();
  for (const id of ['a', 'b', 'c']) {
    assert.equal(net.node(id).status().commit, 5);
    assert.deepEqual(net.applied(id), ['x']);
  }
});

test('an entry is committed with a majority even if a minority is unreachable', () => {
  const net = new Net(['a', 'b', 'c', 'd', 'e']);
  const a = net.elect('a');
  net.isolate('d');
  net.isolate('e');
  a.propose('x');
  net.stabilize();
  assert.deepEqual(net.applied('a'), ['x']);
  assert.deepEqual(net.applied('d'), []);
  net.heal();
  net.tick(1);
  assert.deepEqual(net.applied('d'), ['x']);
});

test('no commit without a majority', () => {
  const net = new Net(['a', 'b', 'c']);
  const a = net.elect('a');
  net.isolate('a');
  const r = a.propose('x');
  net.stabilize();
  assert.ok(r.ok);
  assert.ok(a.status().commit < r.index);
});

test('a new leader appends an empty entry of its own term', () => {
  const net = new Net(['a', 'b', 'c']);
  const a = net.elect('a');
  const last = net.disk('a').entries.at(-1);
  assert.deepEqual(last, { index: 4, term: 2, type: 'normal', data: '' });
  assert.equal(a.status().commit, 4);
});

test('followers append what the leader sends and answer with their new last index (log matching)', () => {
  const n = new RaftNode(config('b'), logBoot(['a', 'b'], [1, 1], 2));
  const ents: Entry[] = [{ index: 3, term: 2, type: 'normal', data: 'z' }];
  n.step(
    msg({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 2,
      index: 2,
      logTerm: 1,
      entries: ents,
      commit: 3,
    }),
  );
  const rd = n.ready();
  assert.deepEqual(rd.entries, ents);
  assert.deepEqual(
    rd.committed.map((e) => e.index),
    [1, 2, 3],
  );
  assert.deepEqual(rd.messages, [{ type: 'app-resp', from: 'b', to: 'a', term: 2, index: 3 }]);
});

test('a follower refuses an append whose previous entry does not match (consistency check)', () => {
  const n = new RaftNode(config('b'), logBoot(['a', 'b'], [1, 1], 2));
  n.step(
    msg({ type: 'app', from: 'a', to: 'b', term: 2, index: 2, logTerm: 2, entries: [], commit: 0 }),
  );
  n.step(
    msg({ type: 'app', from: 'a', to: 'b', term: 2, index: 5, logTerm: 2, entries: [], commit: 0 }),
  );
  const out = n.ready().messages;
  assert.equal(out.length, 2);
  assert.ok(out.every((m) => m.reject === true && m.type === 'app-resp'));
  assert.deepEqual(
    out.map((m) => [m.index, m.rejectHint]),
    [
      [2, 2],
      [5, 2],
    ],
  );
  assert.equal(n.status().lastIndex, 2);
});

test('a follower deletes conflicting entries and everything after them', () => {
  const n = new RaftNode(config('b'), logBoot(['a', 'b'], [1, 1, 2, 2], 3));
  const ents: Entry[] = [
    { index: 2, term: 1, type: 'normal', data: 'e2' },
    { index: 3, term: 3, type: 'normal', data: 'n3' },
  ];
  n.step(
    msg({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 3,
      index: 1,
      logTerm: 1,
      entries: ents,
      commit: 1,
    }),
  );
  const rd = n.ready();
  assert.deepEqual(
    rd.entries.map((e) => [e.index, e.term]),
    [[3, 3]],
  );
  assert.equal(n.status().lastIndex, 3);
});

test('a follower ignores an append that is already in its log (no truncation)', () => {
  const n = new RaftNode(config('b'), logBoot(['a', 'b'], [1, 1, 1], 1));
  n.step(
    msg({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 1,
      index: 0,
      logTerm: 0,
      entries: [{ index: 1, term: 1, type: 'normal', data: 'e1' }],
      commit: 1,
    }),
  );
  assert.equal(n.status().lastIndex, 3);
  assert.deepEqual(n.ready().entries, []);
});

// Figure 7: whatever a follower's log, the leader brings it to its own.
const fig7Leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const fig7Followers: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

test('figure 7: a leader makes every follower log identical to its own', () => {
  for (const [name, flog] of Object.entries(fig7Followers)) {
    const voters = ['l', 'f', 'v'];
    const net = new Net(voters, {}, (id) =>
      logBoot(voters, id === 'l' ? fig7Leader : id === 'f' ? flog : [1, 1, 1], 7),
    );
    net.elect('l');
    const want = [...fig7Leader, 8];
    assert.deepEqual(logTerms(net, 'f'), want, `follower ${name}`);
    assert.equal(net.node('f').status().commit, 11, `follower ${name}`);
  }
});

test('figure 7: fast backtracking needs few round trips', () => {
  const voters = ['l', 'f', 'v'];
  const net = new Net(voters, {}, (id) =>
    logBoot(voters, id === 'l' ? fig7Leader : id === 'f' ? (fig7Followers.f ?? []) : [1, 1, 1], 7),
  );
  net.elect('l');
  const rejects = net.sent.filter((m) => m.from === 'f' && m.type === 'app-resp' && m.reject);
  assert.ok(rejects.length <= 3, `rejections: ${rejects.length}`);
});

// ---- §5.4 safety ------------------------------------------------------------------------

test('a voter denies its vote to a candidate whose log is less up to date (§5.4.1)', () => {
  // voter log: last index 2, last term 2
  const cases: [number, number, boolean][] = [
    [3, 1, false],
    [1, 2, false],
    [2, 2, true],
    [3, 2, true],
    [1, 3, true],
  ];
  for (const [index, logTerm, granted] of cases) {
    const n = new RaftNode(config('a'), logBoot(['a', 'b'], [1, 2], 2));
    n.step(msg({ type: 'vote', from: 'b', to: 'a', term: 3, index, logTerm }));
    const resp = n.ready().messages[0];
    assert.equal(resp?.reject, !granted, `index ${index} logTerm ${logTerm}`);
  }
});

test('leader completeness: a node missing committed entries cannot be elected', () => {
  const voters = ['a', 'b', 'c'];
  const net = new Net(voters, {}, (id) => logBoot(voters, id === 'c' ? [1] : [1, 1, 2], 2, 1));
  net.node('c').campaign();
  net.stabilize();
  assert.notEqual(net.node('c').status().role, 'leader');
  const a = net.elect('a');
  assert.equal(a.status().lastIndex, 4);
  assert.deepEqual(logTerms(net, 'c'), [1, 1, 2, a.status().term]);
});

test('figure 8: entries of earlier terms are not committed by counting replicas (§5.4.2)', () => {
  const voters = ['a', 'b', 'c'];
  // a holds an uncommitted entry of term 2 at index 2; b and c only index 1.
  const net = new Net(voters, { maxSizePerMsg: 0 }, (id) =>
    logBoot(voters, id === 'a' ? [1, 2] : [1], 2, 1),
  );
  const a = net.node('a');
  a.campaign();
  // c hears nothing; b gets index 2 (term 2) but never the term-3 entry at index 3: a majority
  // holds index 2, yet it is of an older term.
  const b = net.node('b');
  const hasIndex3 = (m: Message): boolean => (m.entries ?? []).some((e) => e.index === 3);
  net.filter = (m) =>
    m.to === 'a' || (m.to === 'b' && !(b.status().lastIndex >= 2 && hasIndex3(m)));
  net.stabilize();
  assert.equal(a.status().role, 'leader');
  assert.equal(net.node('b').status().lastIndex, 2);
  assert.equal(a.status().commit, 1, 'index 2 is on a majority but of term 2: not committed');
  net.filter = () => true;
  net.tick(1);
  assert.equal(a.status().commit, 3, 'committing the term-3 entry commits index 2 too');
});

test('a leader never overwrites or deletes entries in its own log; followers yield theirs', () => {
  const voters = ['a', 'b', 'c'];
  // b and c hold longer logs, but of an older term: a wins and its log prevails.
  const net = new Net(voters, {}, (id) =>
    logBoot(voters, id === 'a' ? [1, 3] : [1, 2, 2, 2], 3, 1),
  );
  const a = net.elect('a');
  const t = a.status().term;
  for (const id of voters) assert.deepEqual(logTerms(net, id), [1, 3, t], id);
});

test('state machines apply the same entries in the same order', () => {
  const net = new Net(['a', 'b', 'c', 'd', 'e']);
  net.elect('a');
  for (let i = 0; i < 5; i++) net.node('a').propose(`v${i}`);
  net.stabilize();
  net.isolate('a');
  net.tick(40, ['b', 'c', 'd', 'e']);
  const [l] = net.leaders().filter((id) => id !== 'a');
  assert.ok(l);
  net.node(l).propose('after');
  net.stabilize();
  net.heal();
  net.tick(30);
  const want = ['v0', 'v1', 'v2', 'v3', 'v4', 'after'];
  for (const id of ['a', 'b', 'c', 'd', 'e']) assert.deepEqual(net.applied(id), want, id);
});

test('committed entries survive leader changes (every later leader holds them)', () => {
  const net = new Net(['a', 'b', 'c']);
  net.elect('a');
  net.node('a').propose('one');
  net.stabilize();
  net.isolate('a');
  net.tick(30, ['b', 'c']);
  const [l] = net.leaders().filter((id) => id !== 'a');
  assert.ok(l);
  const log = net.disk(l).entries.map((e) => e.data);
  assert.ok(log.includes('one'));
});
