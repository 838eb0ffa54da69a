// Raft messages between real brokers over TLS on loopback: delivery, sender checks, ACL, chunked snapshots, partitions, restarts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { Broker } from '../../manager/broker/broker.js';
import { mayPublish } from '../../manager/broker/acl.js';
import { FloodGuard, topicFamily } from '../../manager/broker/flood.js';
import { newCluster } from '../../manager/bootstrap/cluster.js';
import { RaftTransport } from '../../manager/raft/transport.js';
import type { Message } from '../../manager/raft/core/types.js';
import type { ClusterRecord } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { loadOrMakeTls } from '../../manager/bootstrap/tls.js';
import { systemClock } from '../../shared/clock.js';
import {
  generateNodeKeys,
  issueCertificate,
  makeConnectProof,
  randomId,
  type Identity,
} from '../../shared/identity.js';
import { memoryLogger } from '../../shared/log.js';
import { topics } from '../../shared/protocol.js';
import { connectMqttAsync } from '../../shared/transport.js';
import { nodeRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/wait.js';

const TEST = { timeout: 60_000 };
const HOSTS = { 'mgr-a': '127.0.0.2', 'mgr-b': '127.0.0.3', 'mgr-c': '127.0.0.4' } as const;
type Mgr = keyof typeof HOSTS;
const IDS = Object.keys(HOSTS) as Mgr[];

interface Member {
  id: Mgr;
  broker: Broker;
  brokerLog: ReturnType<typeof memoryLogger>;
  address: string;
  transport: RaftTransport;
  log: ReturnType<typeof memoryLogger>;
  inbox: Message[];
  peerStates: [string, boolean][];
  snapsSent: [string, boolean][];
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-raft-transport-'));
const store = new Store(path.join(dir, 'state.db'));
const cluster: ClusterRecord = newCluster(Date.now());
store.apply({ commands: [{ type: 'cluster.init', cluster }] });

/** A node certificate and its record in the store the brokers authenticate against. */
function enrol(id: string, role: 'worker' | 'manager'): Identity {
  const keys = generateNodeKeys();
  const serial = randomId();
  const now = Date.now();
  const cert = issueCertificate(
    {
      id,
      role,
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      issuedAt: now,
      expiresAt: now + 3600_000,
      serial,
    },
    { publicKey: cluster.rootPub, secretKey: cluster.rootSecret },
  );
  const node = nodeRecord(id, {
    role,
    signPub: keys.sign.publicKey,
    boxPub: keys.box.publicKey,
    certSerial: serial,
  });
  store.apply({ commands: [{ type: 'node.put', node }] });
  return { v: 1, id, role, keys, cert, rootPub: cluster.rootPub, managers: [] };
}

const identities = new Map<string, Identity>(IDS.map((id) => [id, enrol(id, 'manager')]));
const outsider = enrol('mgr-x', 'manager'); // a manager without a transport, to send by hand
const worker = enrol('wrk-1', 'worker');

async function startBroker(
  id: Mgr,
  port = 0,
): Promise<{ broker: Broker; address: string; log: ReturnType<typeof memoryLogger> }> {
  const host = HOSTS[id];
  const tlsDir = path.join(dir, id);
  mkdirSync(tlsDir, { recursive: true });
  const tls = await loadOrMakeTls(tlsDir, cluster, host, Date.now());
  const log = memoryLogger(`broker-${id}`);
  const broker = new Broker(store, log, systemClock);
  const listening = await broker.start(host, port, tls);
  return { broker, address: `${listening.host}:${listening.port}`, log };
}

function attach(
  id: Mgr,
  broker: Broker,
  address: string,
  brokerLog: ReturnType<typeof memoryLogger>,
): Member {
  const log = memoryLogger(`raft-${id}`);
  const m: Omit<Member, 'transport'> = {
    id,
    broker,
    brokerLog,
    address,
    log,
    inbox: [],
    peerStates: [],
    snapsSent: [],
  };
  const identity = identities.get(id);
  assert.ok(identity);
  const transport = new RaftTransport({
    selfId: id,
    broker,
    identity,
    rootPub: cluster.rootPub,
    insecure: false,
    logger: log,
    onMessages: (msgs) => m.inbox.push(...msgs),
    onPeerState: (peer, up) => m.peerStates.push([peer, up]),
    onSnapshotSent: (to, ok) => m.snapsSent.push([to, ok]),
  });
  return { ...m, transport };
}

const heartbeat = (from: string, to: string, context: string): Message => ({
  type: 'heartbeat',
  from,
  to,
  term: 3,
  commit: 7,
  context,
});

/** Publishes raw payloads on a broker as some identity, the way a misbehaving client would. */
async function rawClient(address: string, identity: Identity): Promise<MqttClient> {
  return connectMqttAsync(
    address,
    { insecure: false, pin: { rootPub: cluster.rootPub } },
    {
      protocolVersion: 4,
      clientId: identity.id,
      username: identity.id,
      password: makeConnectProof(identity, identity.id),
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    },
  );
}

const got = (m: Member, context: string): Message | undefined =>
  m.inbox.find((x) => x.context === context);

describe('Raft transport between real brokers', () => {
  const members = new Map<Mgr, Member>();
  const member = (id: Mgr): Member => {
    const m = members.get(id);
    assert.ok(m, id);
    return m;
  };
  const peers = (): Map<string, string> => new Map([...members].map(([id, m]) => [id, m.address]));

  before(async () => {
    for (const id of IDS) {
      const b = await startBroker(id);
      members.set(id, attach(id, b.broker, b.address, b.log));
    }
    for (const m of members.values()) m.transport.setPeers(peers());
    await waitFor(
      () => IDS.every((a) => IDS.every((b) => a === b || member(a).transport.connected(b))),
      { what: 'every manager connected to every other' },
    );
  });

  after(async () => {
    for (const m of members.values()) {
      await m.transport.close();
      await m.broker.close();
    }
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('messages arrive both ways, batched per peer', TEST, async () => {
    const [a, b, c] = [member('mgr-a'), member('mgr-b'), member('mgr-c')];
    const publishes: number[] = [];
    const stop = b.broker.onMessage(topics.raft('mgr-b'), (_t, payload) => {
      publishes.push((JSON.parse(payload.toString()) as { msgs: unknown[] }).msgs.length);
    });
    const app: Message = {
      type: 'app',
      from: 'mgr-a',
      to: 'mgr-c',
      term: 3,
      index: 4,
      logTerm: 2,
      commit: 4,
      entries: [{ index: 5, term: 3, type: 'normal', data: '{"commands":[{"q":"\\"x\\""}]}' }],
      context: 'app-1',
    };
    a.transport.send([
      heartbeat('mgr-a', 'mgr-b', 'ab-1'),
      heartbeat('mgr-a', 'mgr-b', 'ab-2'),
      app,
    ]);
    b.transport.send([heartbeat('mgr-b', 'mgr-a', 'ba-1')]);
    await waitFor(() => got(b, 'ab-2') && got(c, 'app-1') && got(a, 'ba-1'), { what: 'delivery' });
    stop();
    assert.deepEqual(publishes, [2], 'one publish carried both messages for mgr-b');
    assert.deepEqual(got(c, 'app-1'), app);
    assert.deepEqual(
      b.inbox.filter((x) => x.context?.startsWith('ab-')).map((x) => x.context),
      ['ab-1', 'ab-2'],
    );
    assert.ok(a.transport.stats().sent >= 3);
    assert.ok(b.transport.stats().received >= 2);
    assert.ok(a.peerStates.some(([p, up]) => p === 'mgr-b' && up));
  });

  test('a message whose sender lies about itself is dropped and logged', TEST, async () => {
    const b = member('mgr-b');
    const client = await rawClient(b.address, outsider);
    const rejected = b.transport.stats().rejected;
    const batch = (from: string, msgFrom: string, context: string): string =>
      JSON.stringify({ v: 1, from, msgs: [heartbeat(msgFrom, 'mgr-b', context)] });
    await client.publishAsync(topics.raft('mgr-b'), batch('mgr-a', 'mgr-a', 'lie-1'));
    await client.publishAsync(topics.raft('mgr-b'), batch('mgr-x', 'mgr-a', 'lie-2'));
    await client.publishAsync(topics.raft('mgr-b'), batch('mgr-x', 'mgr-x', 'honest'));
    await waitFor(() => got(b, 'honest'), { what: 'the honest message' });
    assert.equal(b.transport.stats().rejected, rejected + 2);
    assert.equal(got(b, 'lie-1'), undefined);
    assert.equal(got(b, 'lie-2'), undefined);
    assert.ok(b.log.lines.some((l) => l.includes('false sender')));
    await client.endAsync(true);
  });

  test('a worker cannot publish on Raft topics', TEST, async () => {
    const b = member('mgr-b');
    assert.equal(
      mayPublish({ kind: 'node', id: 'wrk-1', role: 'worker' }, 'wrk-1', topics.raft('mgr-b')),
      false,
    );
    assert.equal(
      mayPublish({ kind: 'node', id: 'm', role: 'manager' }, 'm', topics.raftSnap('mgr-b')),
      true,
    );
    assert.equal(
      mayPublish({ kind: 'node', id: 'm', role: 'manager' }, 'm', `${topics.raft('mgr-b')}/x`),
      false,
    );
    assert.equal(
      mayPublish({ kind: 'admin', id: 'admin-1' }, 'admin-1', topics.raft('mgr-b')),
      false,
    );
    const client = await rawClient(b.address, worker);
    const payload = JSON.stringify({
      v: 1,
      from: 'wrk-1',
      msgs: [heartbeat('wrk-1', 'mgr-b', 'w')],
    });
    client.publish(topics.raft('mgr-b'), payload);
    client.publish(topics.raftSnap('mgr-b'), payload);
    await waitFor(
      () => b.brokerLog.lines.some((l) => l.includes('publish refused') && l.includes('wrk-1')),
      {
        what: 'the broker to refuse the worker',
      },
    );
    assert.equal(got(b, 'w'), undefined);
    await client.endAsync(true);
  });

  test('a 5 MB snapshot arrives intact in chunks', TEST, async () => {
    const [a, b] = [member('mgr-a'), member('mgr-b')];
    // Quotes, backslashes and non-ASCII: JSON escaping and UTF-8 split across chunk borders.
    const unit = '{"k":"v\\"é✓"},';
    const data = unit.repeat(Math.ceil((5 * 1024 * 1024) / unit.length));
    const snap: Message = {
      type: 'snap',
      from: 'mgr-a',
      to: 'mgr-b',
      term: 4,
      snapshot: { meta: { index: 900, term: 4, conf: { voters: IDS, learners: [] } }, data },
    };
    a.transport.send([snap, heartbeat('mgr-a', 'mgr-b', 'after-snap')]);
    await waitFor(() => b.inbox.find((x) => x.type === 'snap'), {
      what: 'the snapshot',
      timeoutMs: 30_000,
    });
    const received = b.inbox.find((x) => x.type === 'snap');
    assert.equal(received?.snapshot?.data.length, data.length);
    assert.deepEqual(received, snap);
    await waitFor(() => a.snapsSent.length > 0, { what: 'the sender to be told' });
    assert.deepEqual(a.snapsSent, [['mgr-b', true]]);
    assert.ok(got(b, 'after-snap'));
  });

  test("a burst far past a node's flood budget is never cut off", TEST, async () => {
    const [a, b] = [member('mgr-a'), member('mgr-b')];
    // One publish per send: 3,000 publishes at once, six times a node's burst allowance.
    for (let i = 0; i < 3_000; i++) a.transport.send([heartbeat('mgr-a', 'mgr-b', `burst-${i}`)]);
    await waitFor(() => got(b, 'burst-2999'), { what: 'the whole burst' });
    assert.equal(b.inbox.filter((x) => x.context?.startsWith('burst-')).length, 3_000);
    assert.ok(!b.brokerLog.lines.some((l) => l.includes('rate limit') || l.includes('flooding')));
    assert.ok(a.transport.connected('mgr-b'));
    // The guard itself: a manager's Raft topics have their own bucket, nodes' limits untouched.
    const guard = new FloodGuard(memoryLogger('flood'), () => 1_000);
    const conn = {};
    for (let i = 0; i < 20_000; i++) {
      assert.equal(guard.check(conn, 'mgr-a', 'node', topics.raft('mgr-b'), 200), 'accept');
    }
    assert.equal(guard.check(conn, 'mgr-a', 'node', topics.raftSnap('mgr-b'), 180_000), 'accept');
    assert.equal(topicFamily(topics.raft('hb')), 'raft');
    assert.equal(topicFamily(topics.raftSnap('mgr-b')), 'raftSnap');
  });

  test('a partition drops traffic both ways; healing it restores traffic', TEST, async () => {
    const [a, b, c] = [member('mgr-a'), member('mgr-b'), member('mgr-c')];
    a.transport.setPartition(['mgr-b']);
    const dropped = a.transport.stats().dropped;
    a.transport.send([heartbeat('mgr-a', 'mgr-b', 'p-ab'), heartbeat('mgr-a', 'mgr-c', 'p-ac')]);
    b.transport.send([heartbeat('mgr-b', 'mgr-a', 'p-ba')]);
    await waitFor(() => got(c, 'p-ac'), { what: 'traffic outside the partition' });
    await waitFor(() => a.transport.stats().dropped >= dropped + 2, {
      what: 'both directions dropped',
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got(b, 'p-ab'), undefined);
    assert.equal(got(a, 'p-ba'), undefined);
    const snap: Message = {
      type: 'snap',
      from: 'mgr-a',
      to: 'mgr-b',
      term: 4,
      snapshot: { meta: { index: 1, term: 1, conf: { voters: IDS, learners: [] } }, data: '' },
    };
    a.snapsSent.length = 0;
    a.transport.send([snap]);
    assert.deepEqual(a.snapsSent, [['mgr-b', false]]);
    a.transport.setPartition([]);
    a.transport.send([heartbeat('mgr-a', 'mgr-b', 'healed-ab')]);
    b.transport.send([heartbeat('mgr-b', 'mgr-a', 'healed-ba')]);
    await waitFor(() => got(b, 'healed-ab') && got(a, 'healed-ba'), {
      what: 'traffic after healing',
    });
  });

  test('malformed payloads are counted and logged, never crash', TEST, async () => {
    const b = member('mgr-b');
    const client = await rawClient(b.address, outsider);
    const before = b.transport.stats().rejected;
    const chunk = (extra: Record<string, unknown>): string =>
      JSON.stringify({
        v: 1,
        from: 'mgr-x',
        to: 'mgr-b',
        id: 'c1',
        seq: 0,
        total: 2,
        size: 200_000,
        term: 1,
        data: '',
        ...extra,
      });
    const bad: [string, string][] = [
      [topics.raft('mgr-b'), 'not json'],
      [topics.raft('mgr-b'), '{"v":2,"from":"mgr-x","msgs":[]}'],
      [
        topics.raft('mgr-b'),
        JSON.stringify({ v: 1, from: 'mgr-x', msgs: [{ type: 'app', from: 'mgr-x' }] }),
      ],
      [
        topics.raft('mgr-b'),
        JSON.stringify({ v: 1, from: 'mgr-x', msgs: [heartbeat('mgr-x', 'mgr-c', 'wrong-to')] }),
      ],
      [
        topics.raft('mgr-b'),
        JSON.stringify({
          v: 1,
          from: 'mgr-x',
          msgs: [{ ...heartbeat('mgr-x', 'mgr-b', 'n'), term: -1 }],
        }),
      ],
      [topics.raftSnap('mgr-b'), '\u0000\u0001'],
      [topics.raftSnap('mgr-b'), chunk({ seq: 1 })], // no transfer started
      [topics.raftSnap('mgr-b'), chunk({ total: 1 })], // one chunk cannot hold 200,000 bytes
      [topics.raftSnap('mgr-b'), chunk({ data: 'AAAA' })], // wrong chunk length
      [
        topics.raftSnap('mgr-b'),
        chunk({ size: 3, total: 1, data: Buffer.from('{x}').toString('base64') }),
      ],
    ];
    for (const [topic, payload] of bad) await client.publishAsync(topic, payload);
    await client.publishAsync(
      topics.raft('mgr-b'),
      JSON.stringify({ v: 1, from: 'mgr-x', msgs: [heartbeat('mgr-x', 'mgr-b', 'still-ok')] }),
    );
    await waitFor(() => got(b, 'still-ok'), { what: 'a valid message after the garbage' });
    assert.equal(b.transport.stats().rejected, before + bad.length);
    assert.ok(
      b.log.lines.some((l) => l.includes('bad raft batch') && l.includes('not valid JSON')),
    );
    assert.ok(b.log.lines.some((l) => l.includes('snapshot transfer refused')));
    await client.endAsync(true);
  });

  test('a peer broker restart: the client reconnects and traffic resumes', TEST, async () => {
    const [a, b] = [member('mgr-a'), member('mgr-b')];
    const port = Number(b.address.split(':')[1]);
    await b.transport.close();
    await b.broker.close();
    await waitFor(() => !a.transport.connected('mgr-b'), { what: 'mgr-a to notice' });
    assert.ok(a.peerStates.some(([p, up]) => p === 'mgr-b' && !up));
    const dropped = a.transport.stats().dropped;
    a.transport.send([heartbeat('mgr-a', 'mgr-b', 'while-down')]);
    assert.equal(a.transport.stats().dropped, dropped + 1);
    const restarted = await startBroker('mgr-b', port);
    const b2 = attach('mgr-b', restarted.broker, restarted.address, restarted.log);
    members.set('mgr-b', b2);
    b2.transport.setPeers(peers());
    await waitFor(() => a.transport.connected('mgr-b') && b2.transport.connected('mgr-a'), {
      what: 'reconnection',
      timeoutMs: 15_000,
    });
    a.transport.send([heartbeat('mgr-a', 'mgr-b', 'after-restart')]);
    b2.transport.send([heartbeat('mgr-b', 'mgr-a', 'back')]);
    await waitFor(() => got(b2, 'after-restart') && got(a, 'back'), {
      what: 'traffic after restart',
    });
  });
});
