// Agents and the CLI follow the leader across two real brokers: moves, redirects, failover, stale reads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../agent/reconcile/agent.js';
import { ManagerConnection } from '../../agent/link/connection.js';
import { FakeRuntime } from '../../agent/runtime/fake.js';
import { Broker } from '../../manager/broker/broker.js';
import { connectClient, type RpcClient } from '../../manager/cli/rpc-client.js';
import { newCluster } from '../../manager/bootstrap/cluster.js';
import type { ClusterRecord } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { makeCaCertificate, makeListenerCertificate } from '../../manager/bootstrap/tls.js';
import { FakeClock, systemClock, type Clock } from '../../shared/clock.js';
import {
  certBodySchema,
  generateNodeKeys,
  issueCertificate,
  randomId,
  type Identity,
} from '../../shared/identity.js';
import { memoryLogger, silentLogger } from '../../shared/log.js';
import {
  PREFIX,
  decode,
  encode,
  rpcRequestSchema,
  topics,
  type Assignment,
  type LeaderInfo,
  type RpcRequest,
} from '../../shared/protocol.js';
import { taskTemplateSchema, type NodeRecord } from '../../shared/spec.js';
import { cli } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const TEST = { timeout: 30_000 };
/** How many lines of the log mention the text. */
const count = (log: { lines: string[] }, text: string): number =>
  log.lines.filter((l) => l.includes(text)).length;

/** What a test manager answers: a response body, or nothing at all (a manager gone silent). */
type Answer =
  | { ok: true; result: unknown; stale?: boolean; warning?: string }
  | { ok: false; error: { code: string; message: string; leader?: LeaderInfo } }
  | null;
type Respond = (req: RpcRequest) => Answer;

interface TestManager {
  id: string;
  address: string;
  store: Store;
  broker: Broker;
  requests: RpcRequest[];
  respond: Respond;
  /** Its broker was closed by the test, as a manager that died. */
  dead?: boolean;
}

async function startManager(
  dir: string,
  host: string,
  cluster: ClusterRecord,
): Promise<TestManager> {
  const store = new Store(path.join(dir, `${host}.db`));
  store.apply({ commands: [{ type: 'cluster.init', cluster }] });
  const now = Date.now();
  const caPem = makeCaCertificate(cluster.rootPub, cluster.rootSecret, now);
  const leaf = makeListenerCertificate(host, cluster.rootSecret, now);
  const broker = new Broker(store, silentLogger, systemClock);
  const l = await broker.start(host, 0, {
    certChainPem: leaf.certPem + caPem,
    keyPem: leaf.keyPem,
  });
  const m: TestManager = {
    id: `mgr-${host}`,
    address: `${l.host}:${l.port}`,
    store,
    broker,
    requests: [],
    respond: () => null,
  };
  // A stand-in for the RPC server: records every request and answers as the test says.
  broker.onMessage(`${PREFIX}/rpc/`, (_topic, payload, _principal, clientId) => {
    const d = decode(rpcRequestSchema, payload);
    if (!d.ok || !clientId) return;
    m.requests.push(d.value);
    const answer = m.respond(d.value);
    if (!answer) return;
    const res = { v: 1, id: d.value.id, ...answer };
    void broker.publish(topics.rpcReply(clientId), encode(res), { qos: 1 }).catch(() => undefined);
  });
  return m;
}

function identityFor(cluster: ClusterRecord, role: 'worker' | 'admin'): Identity {
  const keys = generateNodeKeys();
  const id = role === 'admin' ? `admin-${randomId(4)}` : randomId();
  const now = Date.now();
  const cert = issueCertificate(
    {
      id,
      role,
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      issuedAt: now,
      expiresAt: now + 3600_000,
      serial: randomId(),
    },
    { publicKey: cluster.rootPub, secretKey: cluster.rootSecret },
  );
  return { v: 1, id, role, keys, cert, rootPub: cluster.rootPub, managers: [] };
}

function nodeRecord(identity: Identity): NodeRecord {
  const now = Date.now();
  return {
    id: identity.id,
    name: 'board',
    role: 'worker',
    status: 'unknown',
    statusMessage: '',
    availability: 'active',
    address: '127.0.0.1',
    arch: 'arm64',
    os: 'linux',
    labels: {},
    resources: { cpus: 1, memoryBytes: 1 << 30 },
    runtime: 'fake',
    signPub: identity.keys.sign.publicKey,
    boxPub: identity.keys.box.publicKey,
    certSerial: certBodySchema.parse(JSON.parse(identity.cert.body)).serial,
    agentVersion: '0.1.0',
    createdAt: now,
    updatedAt: now,
  };
}

describe('following the leader', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-leader-'));
  const cluster = newCluster(Date.now());
  const node = identityFor(cluster, 'worker');
  const admin = identityFor(cluster, 'admin');
  let a: TestManager;
  let b: TestManager;
  const closers: (() => Promise<void>)[] = [];

  /** Retains on each manager's broker what that manager says of the leadership. */
  const announce = async (leaderOnA: TestManager | null, leaderOnB = leaderOnA): Promise<void> => {
    const managers = [a, b].map((m) => ({ id: m.id, address: m.address }));
    for (const [m, leader] of [
      [a, leaderOnA],
      [b, leaderOnB],
    ] as const) {
      const info: LeaderInfo = {
        v: 1,
        from: m.id,
        term: 1,
        leader: leader ? { id: leader.id, address: leader.address } : null,
        managers,
      };
      await m.broker.publish(topics.leader(), encode(info), { retain: true });
    }
  };

  const client = async (hosts: string[], timeoutMs = 2_000): Promise<RpcClient> => {
    const c = await connectClient({ hosts, identity: admin, timeoutMs });
    closers.push(() => c.close());
    return c;
  };

  before(async () => {
    a = await startManager(dir, '127.0.0.2', cluster);
    b = await startManager(dir, '127.0.0.3', cluster);
    // What replication would do: both managers know the node.
    for (const m of [a, b])
      m.store.apply({ commands: [{ type: 'node.put', node: nodeRecord(node) }] });
    await announce(a);
  });

  after(async () => {
    for (const close of closers) await close().catch(() => undefined);
    for (const m of [a, b]) {
      if (!m.dead) await m.broker.close().catch(() => undefined);
      m.store.close();
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A ManagerConnection that records its connections and leader infos; closed after the test. */
  const connection = (managers: string[], logger = silentLogger, clock: Clock = systemClock) => {
    const connects: string[] = [];
    const infos: LeaderInfo[] = [];
    let disconnects = 0;
    const conn = new ManagerConnection(
      node,
      managers,
      {
        onConnected: (address) => connects.push(address),
        onDisconnected: () => disconnects++,
        onAssignment: () => undefined,
        onLeaderInfo: (info) => infos.push(info),
      },
      logger,
      { clock },
    );
    closers.push(() => conn.close());
    conn.start();
    return { conn, connects, infos, disconnects: () => disconnects };
  };

  test(
    'an agent given only the first manager moves to the leader the info names, and stays',
    TEST,
    async () => {
      await announce(a);
      // The connection's time is a fake clock (started now: certificates are dated by it).
      const clock = new FakeClock(Date.now());
      const log = memoryLogger('connection');
      const { conn, connects, infos, disconnects } = connection([a.address], log, clock);
      await waitFor(() => conn.connectedTo === a.address, {
        what: 'the agent on the first manager',
      });
      await announce(b);
      await waitFor(() => conn.connectedTo === b.address, { what: 'the agent on the leader' });
      assert.deepEqual([...conn.managers], [a.address, b.address], 'every manager is known');
      await waitFor(() => !a.broker.isConnected(node.id), { what: 'the old connection closed' });
      // An election on the leader's side: no leader named, so the agent stays put.
      await announce(b, null);
      await waitFor(() => infos.at(-1)?.leader === null, {
        what: 'the election seen by the agent',
      });
      const moves = count(log, 'moving to the leader');
      clock.advance(1_500);
      assert.equal(count(log, 'moving to the leader'), moves, 'no move started');
      assert.equal(conn.connectedTo, b.address);
      assert.deepEqual(connects, [a.address, b.address], 'one move, no flapping');
      assert.equal(disconnects(), 0, 'the new connection was up before the old one closed');
      await conn.close();
    },
  );

  test(
    'a leader the agent cannot reach leaves it where it is, trying again ever less often',
    TEST,
    async () => {
      const managers = [a, b].map((m) => ({ id: m.id, address: m.address }));
      const unreachable = { id: 'mgr-gone', address: '127.0.0.5:1' };
      await a.broker.publish(
        topics.leader(),
        encode({
          v: 1,
          from: a.id,
          term: 2,
          leader: unreachable,
          managers: [...managers, unreachable],
        }),
        { retain: true },
      );
      const log = memoryLogger('connection');
      const clock = new FakeClock(Date.now());
      const { conn, disconnects } = connection([a.address], log, clock);
      await waitFor(() => conn.connectedTo === a.address, {
        what: 'the agent on the first manager',
      });
      const moves = (): number => count(log, 'moving to the leader');
      const failures = (): number => count(log, 'could not reach the leader');
      // The first attempt goes at once; each failure doubles the pause before the next.
      for (const [attempt, pause] of [
        [1, 2_000],
        [2, 4_000],
        [3, 8_000],
      ] as const) {
        await waitFor(() => failures() === attempt, { what: `attempt ${attempt} to fail` });
        assert.equal(moves(), attempt);
        clock.advance(pause - 1);
        assert.equal(moves(), attempt, `no attempt ${attempt + 1} before ${pause} ms`);
        clock.advance(1);
        assert.equal(moves(), attempt + 1, `attempt ${attempt + 1} at ${pause} ms`);
      }
      assert.equal(conn.connectedTo, a.address, 'still connected to the follower');
      assert.equal(disconnects(), 0);
      assert.ok(conn.managers.includes(unreachable.address), 'kept for failover');
      await conn.close();
      await announce(a);
    },
  );

  test('managers that disagree move an agent at most once a second', TEST, async () => {
    await announce(b, a); // each names the other
    const clock = new FakeClock(Date.now());
    const log = memoryLogger('connection');
    const { conn, connects, infos } = connection([a.address], log, clock);
    await waitFor(() => conn.connected, { what: 'the agent connected' });
    // Each connection reads one leader info: the first sends the agent on at once.
    await waitFor(() => connects.length === 2 && infos.length === 2, { what: 'the first move' });
    for (let n = 3; n <= 5; n++) {
      const moves = count(log, 'moving to the leader');
      clock.advance(999);
      assert.equal(count(log, 'moving to the leader'), moves, 'no move within a second');
      clock.advance(1);
      assert.equal(count(log, 'moving to the leader'), moves + 1, 'a move once the second is up');
      await waitFor(() => connects.length === n && infos.length === n, { what: `move ${n - 1}` });
    }
    assert.ok(connects.length >= 3, `it follows the info (${connects.length} connections)`);
    assert.ok(connects.length <= 5, `at most one move a second (${connects.length} connections)`);
    await conn.close();
  });

  test('a move restarts no task, and an older retained assignment is ignored', TEST, async () => {
    const assignment = (version: number, taskId: string): Assignment => ({
      v: 1,
      version,
      nodeId: node.id,
      heartbeatMs: 1_000,
      tasks: [
        {
          id: taskId,
          serviceId: 's',
          serviceName: 'web',
          slot: 1,
          template: taskTemplateSchema.parse({ image: 'img' }),
          notBefore: 0,
        },
      ],
    });
    await announce(b);
    const retain = { retain: true, qos: 1 } as const;
    await b.broker.publish(topics.assignments(node.id), encode(assignment(10, 'new')), retain);
    // The manager that led before still holds an older assignment.
    await a.broker.publish(topics.assignments(node.id), encode(assignment(7, 'old')), retain);
    const dataDir = path.join(dir, 'agent');
    const runtime = new FakeRuntime();
    const log = memoryLogger('agent');
    const agent = new Agent({
      identity: node,
      managers: [b.address],
      dataDir,
      advertiseAddr: '127.0.0.1',
      runtime,
      logger: log,
    });
    await agent.start();
    try {
      await moveAndCheck(agent, runtime, log, dataDir);
    } finally {
      await agent.stop();
    }
    await announce(a);
  });

  async function moveAndCheck(
    agent: Agent,
    runtime: FakeRuntime,
    log: { lines: string[] },
    dataDir: string,
  ): Promise<void> {
    await waitFor(() => agent.tasks().get('new')?.state === 'running', {
      what: 'the task running',
    });
    await announce(a);
    await waitFor(() => a.broker.isConnected(node.id) && !b.broker.isConnected(node.id), {
      what: 'the agent on the new leader',
    });
    await waitFor(() => log.lines.some((l) => l.includes('ignored an older assignment')), {
      what: 'the older assignment ignored',
    });
    assert.equal(runtime.starts, 1, 'no task was restarted');
    assert.equal(agent.tasks().get('new')?.state, 'running');
    assert.equal(agent.tasks().has('old'), false);
    const saved = JSON.parse(
      await fs.readFile(path.join(dataDir, 'assignment.json'), 'utf8'),
    ) as Assignment;
    assert.equal(saved.version, 10);
  }

  const notLeader = (from: TestManager, leader: TestManager | null): Answer => ({
    ok: false,
    error: {
      code: 'not_leader',
      message: `${from.id} does not lead`,
      leader: {
        v: 1,
        from: from.id,
        term: 1,
        leader: leader ? { id: leader.id, address: leader.address } : null,
        managers: [a, b].map((m) => ({ id: m.id, address: m.address })),
      },
    },
  });

  test(
    'the CLI sent to a follower gets its answer from the leader, a write with the same key',
    TEST,
    async () => {
      await announce(b);
      a.requests = [];
      b.requests = [];
      a.respond = () => notLeader(a, b);
      b.respond = (req) => ({ ok: true, result: { answeredBy: b.id, method: req.method } });
      const c = await client([a.address]);
      const info = await c.call('cluster.info', {});
      assert.deepEqual(info, { answeredBy: b.id, method: 'cluster.info' });
      assert.equal(c.host, b.address);
      assert.equal(a.requests[0]?.id, b.requests[0]?.id, 'the same request');

      const w = await client([a.address]);
      await w.call('service.rm', { service: 'web' });
      const key = a.requests.at(-1)?.idempotencyKey;
      assert.ok(key, 'writes carry an idempotency key');
      assert.equal(b.requests.at(-1)?.idempotencyKey, key);
    },
  );

  test('the CLI waits out an election, and reports a lost quorum', TEST, async () => {
    a.requests = [];
    let refusals = 3;
    a.respond = () => (refusals-- > 0 ? notLeader(a, null) : { ok: true, result: 'elected' });
    const c = await client([a.address], 1_000);
    assert.equal(await c.call('service.ls', {}), 'elected');
    assert.equal(new Set(a.requests.map((r) => r.id)).size, 1, 'one request, sent again');
    // Every manager the client knows (it learned b from a's answers) says so: the call fails.
    const noQuorum = (): ReturnType<typeof a.respond> => ({
      ok: false,
      error: { code: 'no_quorum', message: 'no quorum: 1 of 3 managers reachable' },
    });
    a.respond = noQuorum;
    b.respond = noQuorum;
    const started = Date.now();
    await assert.rejects(c.call('service.update', { service: 'web', replicas: 2 }), {
      code: 'no_quorum',
      message: 'no quorum: 1 of 3 managers reachable',
    });
    assert.ok(Date.now() - started < 4_000, 'bounded by a few timeouts');
  });

  test(
    '--stale reaches the request and its warning goes to stderr, away from the JSON',
    TEST,
    async () => {
      const file = path.join(dir, 'admin.json');
      await fs.writeFile(file, JSON.stringify(admin));
      b.requests = [];
      b.respond = () => ({
        ok: true,
        result: [],
        stale: true,
        warning: 'no quorum: 1 of 3 managers reachable',
      });
      const m = { address: b.address, identity: file };
      const r = await cli(m, ['node', 'ls', '--stale', '--format', 'json'], 20_000);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), []);
      assert.match(r.stderr, /^warning: no quorum: 1 of 3 managers reachable$/m);
      assert.equal(b.requests.at(-1)?.stale, true);
      b.respond = () => ({ ok: true, result: [] });
      const plain = await cli(m, ['node', 'ls', '--format', 'json'], 20_000);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stderr, '');
      assert.equal(b.requests.at(-1)?.stale, undefined, 'reads go to the leader by default');
    },
  );

  test(
    'a write is retried on another manager, with the same key, when the first goes silent or dies',
    TEST,
    async () => {
      a.requests = [];
      b.requests = [];
      b.respond = (req) => ({ ok: true, result: { key: req.idempotencyKey } });
      // Silent but connected: the reply timeout moves the call on.
      a.respond = () => null;
      const c = await client([a.address], 1_000);
      await waitFor(() => c.knownHosts.includes(b.address), { what: 'the other manager learned' });
      const first = await c.call('service.rm', { service: 'web' });
      assert.deepEqual(first, { key: a.requests[0]?.idempotencyKey });

      // Dead in the middle of a call: the lost connection moves it on at once.
      const d = await client([a.address], 5_000);
      await waitFor(() => d.knownHosts.includes(b.address), { what: 'the other manager learned' });
      a.requests = [];
      a.respond = () => {
        a.dead = true;
        void a.broker.close();
        return null;
      };
      const started = Date.now();
      const second = await d.call('service.rm', { service: 'web' });
      assert.ok(a.requests[0]?.idempotencyKey);
      assert.deepEqual(second, { key: a.requests[0]?.idempotencyKey });
      assert.ok(Date.now() - started < 4_000, 'no wait for the reply timeout');
      assert.equal(d.host, b.address);
    },
  );
});
