// Certificate lifecycle with an injected clock: renewal before expiry, expired certificates and removed nodes refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../agent/reconcile/agent.js';
import { ManagerConnection } from '../../agent/link/connection.js';
import { joinCluster } from '../../shared/join-client.js';
import { CertRenewer } from '../../agent/link/renewal.js';
import { FakeRuntime } from '../../agent/runtime/fake.js';
import { serveJoins } from '../../manager/api/join.js';
import { serveRenewals } from '../../manager/api/renew.js';
import { Broker } from '../../manager/broker/broker.js';
import { NonceCache } from '../../manager/broker/replay.js';
import { newCluster } from '../../manager/bootstrap/cluster.js';
import { Store } from '../../manager/store/store.js';
import { makeCaCertificate, makeListenerCertificate } from '../../manager/bootstrap/tls.js';
import { FakeClock } from '../../shared/clock.js';
import {
  CLOCK_SKEW_MS,
  certBodySchema,
  generateNodeKeys,
  generateSigningKey,
  identitySchema,
  issueCertificate,
  type CertBody,
  type Identity,
} from '../../shared/identity.js';
import { memoryLogger, silentLogger } from '../../shared/log.js';
import { decode, encode, statusSchema, topics, type Assignment } from '../../shared/protocol.js';
import { taskTemplateSchema } from '../../shared/spec.js';
import { waitFor } from '../helpers/wait.js';

const DAY = 24 * 3600_000;
const LIFETIME = 90 * DAY;

/** The longest wait of a first reconnect (500 ms, less its jitter). */
const RECONNECT_MAX_MS = 500;

const bodyOf = (id: Identity): CertBody => certBodySchema.parse(JSON.parse(id.cert.body));
const countOf = (lines: string[], re: RegExp): number => lines.filter((l) => re.test(l)).length;

/** Counts the messages the broker receives on one topic. */
function countMessages(broker: Broker, topic: string): { count: number } {
  const seen = { count: 0 };
  broker.onMessage(topic, (t) => {
    if (t === topic) seen.count++;
  });
  return seen;
}

describe('certificate lifecycle', () => {
  // Started at the real time: the manager's TLS certificate is dated by this clock.
  const clock = new FakeClock(Date.now());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-certs-'));
  const brokerLog = memoryLogger('broker');
  let store: Store;
  let broker: Broker;
  let address: string;
  const agents: Agent[] = [];
  const conns: ManagerConnection[] = [];

  const join = (name: string): Promise<Identity> => {
    const cluster = store.cluster();
    assert.ok(cluster);
    return joinCluster({
      managers: [address],
      token: cluster.workerToken,
      name,
      address: '127.0.0.1',
      platform: { os: 'linux', arch: 'arm64' },
      labels: {},
    });
  };

  before(async () => {
    store = new Store(path.join(dir, 'state.db'));
    const cluster = newCluster(clock.now());
    store.apply({ commands: [{ type: 'cluster.init', cluster }] });
    const caPem = makeCaCertificate(cluster.rootPub, cluster.rootSecret, clock.now());
    const leaf = makeListenerCertificate('127.0.0.1', cluster.rootSecret, clock.now());
    broker = new Broker(store, brokerLog, clock);
    const l = await broker.start('127.0.0.1', 0, {
      certChainPem: leaf.certPem + caPem,
      keyPem: leaf.keyPem,
    });
    address = `${l.host}:${l.port}`;
    const deps = {
      store,
      broker,
      clock,
      logger: silentLogger,
      propose: async (p: Parameters<Store['apply']>[0]) => store.apply(p),
      certLifetimeMs: LIFETIME,
    };
    serveJoins({
      ...deps,
      dataKey: new Uint8Array(32),
      leaderAddress: () => 'self',
      addManager: async () => undefined,
    });
    serveRenewals(deps);
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(conns.map((c) => c.close()));
    await broker.close();
    store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('a certificate renews itself before expiry with no task restarted', async () => {
    const identity = await join('renewing');
    const first = bodyOf(identity);
    assert.equal(first.expiresAt - first.issuedAt, LIFETIME);
    const dataDir = path.join(dir, 'agent');
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(path.join(dataDir, 'identity.json'), JSON.stringify(identity));
    const runtime = new FakeRuntime();
    const log = memoryLogger('agent');
    const agent = new Agent({
      identity,
      managers: [address],
      dataDir,
      advertiseAddr: '127.0.0.1',
      runtime,
      logger: log,
      clock,
    });
    agents.push(agent);
    await agent.start();
    await waitFor(() => agent.connected, { what: 'the agent to connect' });
    const assignment: Assignment = {
      v: 1,
      version: 1,
      nodeId: identity.id,
      // One heartbeat per lifetime: the clock below jumps by weeks, and every heartbeat due on
      // the way would be sent.
      heartbeatMs: LIFETIME,
      tasks: [
        {
          id: 'task-1',
          serviceId: 's',
          serviceName: 'web',
          slot: 1,
          template: taskTemplateSchema.parse({ image: 'img' }),
          notBefore: 0,
        },
      ],
    };
    await broker.publish(topics.assignments(identity.id), encode(assignment), { retain: true });
    await waitFor(() => runtime.starts === 1 && agent.tasks().get('task-1')?.state === 'running', {
      what: 'the task to run',
    });

    // Before half the lifetime nothing happens. A renewal request would leave during the
    // advance itself, so a status report stamped after it, from the same connection, arrives
    // after any such request.
    const renewRequests = countMessages(broker, topics.renew(identity.id));
    const statusTimes: number[] = [];
    broker.onMessage(topics.status(identity.id), (_t, payload) => {
      const d = decode(statusSchema, payload);
      if (d.ok) statusTimes.push(d.value.ts);
    });
    clock.advance(LIFETIME * 0.49);
    const advancedTo = clock.now();
    await waitFor(() => statusTimes.some((ts) => ts >= advancedTo), {
      what: 'a status report sent after the clock moved',
    });
    assert.equal(renewRequests.count, 0, 'no renewal request before half the lifetime');
    assert.equal(store.node(identity.id)?.certSerial, first.serial);

    // The renewal point lies between 50% and 80% of it; there, the certificate is renewed over
    // the live connection.
    const due = agent.renewalDueAt;
    assert.ok(due >= first.issuedAt + LIFETIME * 0.5 && due <= first.issuedAt + LIFETIME * 0.8);
    clock.advance(due - clock.now());
    const renewedAt = clock.now();
    await waitFor(() => store.node(identity.id)?.certSerial !== first.serial, {
      what: 'the renewal to be recorded',
    });
    const saved = await waitFor(
      async () => {
        const raw: unknown = JSON.parse(
          await fs.readFile(path.join(dataDir, 'identity.json'), 'utf8'),
        );
        const id = identitySchema.parse(raw);
        return bodyOf(id).serial !== first.serial ? id : null;
      },
      { what: 'the identity file to hold the new certificate' },
    );
    const second = bodyOf(saved);
    assert.equal(store.node(identity.id)?.certSerial, second.serial);
    assert.equal(store.node(identity.id)?.prevCertSerial, first.serial);
    assert.equal(second.issuedAt, renewedAt);
    assert.equal(second.expiresAt, renewedAt + LIFETIME);
    assert.deepEqual(saved.keys, identity.keys, 'the key pair is kept');

    // No restart of anything: the task was started once, the connection never dropped.
    assert.equal(runtime.starts, 1);
    assert.equal(agent.connected, true);
    assert.equal(countOf(log.lines, /connected to manager/), 1);

    // Past the old certificate's end, the next connection presents the new one and is let in.
    clock.advance(first.expiresAt + CLOCK_SKEW_MS + 1_000 - clock.now());
    broker.disconnectIdentity(identity.id);
    await waitFor(() => !agent.connected, { what: 'the agent to notice the disconnect' });
    // The first reconnect waits at most half a second of the agent's clock.
    clock.advance(RECONNECT_MAX_MS);
    await waitFor(() => countOf(log.lines, /connected to manager/) === 2, {
      what: 'the agent to reconnect with its renewed certificate',
      timeoutMs: 15_000,
    });
    assert.equal(runtime.starts, 1, 'a reconnect does not restart the task either');
    await agent.stop();
  });

  test('an expired certificate is refused at CONNECT with a clear error on both sides', async () => {
    const identity = await join('expiring');
    const expiresAt = bodyOf(identity).expiresAt;
    clock.advance(expiresAt + CLOCK_SKEW_MS + 1_000 - clock.now());
    const log = memoryLogger('connection');
    const conn = new ManagerConnection(
      identity,
      [address],
      {
        onConnected: () => undefined,
        onDisconnected: () => undefined,
        onAssignment: () => undefined,
      },
      log,
      { clock },
    );
    conns.push(conn);
    conn.start();
    await waitFor(() => countOf(log.lines, /certificate expired/) > 0, {
      what: 'the agent to log the expiry',
    });
    assert.equal(conn.connected, false);
    assert.ok(
      brokerLog.lines.some((l) => /connection refused/.test(l) && /certificate expired/.test(l)),
      'the broker logs why',
    );
    await conn.close();
  });

  test('a removed node is cut off at once and refused from then on', async () => {
    const identity = await join('removed');
    const log = memoryLogger('connection');
    let disconnects = 0;
    const conn = new ManagerConnection(
      identity,
      [address],
      {
        onConnected: () => undefined,
        onDisconnected: () => disconnects++,
        onAssignment: () => undefined,
      },
      log,
      { clock },
    );
    conns.push(conn);
    conn.start();
    await waitFor(() => conn.connected, { what: 'the node to connect' });
    // What `fleet node rm` does: the record goes, then the live connection.
    store.apply({ commands: [{ type: 'node.remove', id: identity.id }] });
    broker.disconnectIdentity(identity.id);
    await waitFor(() => disconnects === 1, { what: 'the connection to drop' });
    clock.advance(RECONNECT_MAX_MS);
    await waitFor(
      () =>
        brokerLog.lines.some(
          (l) => /connection refused/.test(l) && /not a member/.test(l) && l.includes(identity.id),
        ),
      { what: 'the reconnect to be refused', timeoutMs: 10_000 },
    );
    // The broker logs its refusal before the node has read the CONNACK.
    await waitFor(() => countOf(log.lines, /refused this node/) > 0, {
      what: 'the node to log the refusal',
    });
    assert.equal(conn.connected, false);
    await conn.close();
  });
});

describe('renewal scheduling', () => {
  test('the renewal point falls between 50% and 80% of the lifetime', () => {
    const root = generateSigningKey();
    const keys = generateNodeKeys();
    const cert = issueCertificate(
      {
        id: 'n1',
        role: 'worker',
        signPub: keys.sign.publicKey,
        boxPub: keys.box.publicKey,
        issuedAt: 1000,
        expiresAt: 2000,
        serial: 's1',
      },
      root,
    );
    const identity: Identity = {
      v: 1,
      id: 'n1',
      role: 'worker',
      keys,
      cert,
      rootPub: root.publicKey,
      managers: [],
    };
    for (const [r, due] of [
      [0, 1500],
      [0.5, 1650],
      [1, 1800],
    ] as const) {
      const clock = new FakeClock(1000);
      let asked = 0;
      const renewer = new CertRenewer({
        clock,
        logger: silentLogger,
        identity: () => identity,
        request: () => {
          asked++;
          return new Promise<never>(() => undefined);
        },
        adopt: () => Promise.resolve(),
        random: () => r,
      });
      renewer.start();
      assert.equal(renewer.dueAt, due);
      clock.advance(due - 1 - clock.now());
      assert.equal(asked, 0, 'not before the renewal point');
      clock.advance(1);
      assert.equal(asked, 1, 'at the renewal point');
      renewer.stop();
    }
  });

  test('a nonce is accepted once within the window, and forgotten after it', () => {
    const cache = new NonceCache(1000);
    assert.equal(cache.use('a', 0, 0), true);
    assert.equal(cache.use('a', 0, 500), false);
    assert.equal(cache.use('b', 400, 500), true);
    assert.equal(cache.use('a', 2000, 2001), true, 'the old entry expired');
    assert.equal(cache.size, 1);
  });
});
