// Routing-mesh counters: the agent's reporter (change detection, size bounds), the leader's store of them, the ACL and inspect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ForwarderStats } from '../../agent/ingress/forwarder.js';
import {
  IngressReporter,
  MAX_BACKENDS,
  MAX_PORTS,
  REFRESH_MS,
  buildPorts,
} from '../../agent/ingress/report.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { mayPublish } from '../../manager/broker/acl.js';
import { PAYLOAD_CAPS, topicFamily } from '../../manager/broker/flood.js';
import { renderServiceDetail } from '../../manager/cli/format.js';
import { IngressStats, STATS_MAX_AGE_MS } from '../../manager/ingress/stats.js';
import type { Command } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger, silentLogger } from '../../shared/log.js';
import {
  INGRESS_STATS_MAX_BYTES,
  decode,
  encode,
  ingressStatsSchema,
  topics,
  type IngressStatsReport,
} from '../../shared/protocol.js';
import { serviceSpecSchema } from '../../shared/spec.js';
import { nodeRecord } from '../helpers/records.js';

const fwStats = (port: number, over: Partial<ForwarderStats> = {}): ForwarderStats => ({
  port,
  protocol: 'tcp',
  active: 0,
  total: 0,
  errors: 0,
  connectErrors: 0,
  bytesIn: 0,
  bytesOut: 0,
  backends: {},
  ...over,
});

function reporter(initial: ForwarderStats[] = []) {
  const clock = new FakeClock(1_000_000);
  let session: string | null = 'mgr-a:4222';
  let stats = initial;
  const sent: { topic: string; report: IngressStatsReport }[] = [];
  const r = new IngressReporter({
    nodeId: 'n1',
    stats: () => stats,
    publish: (topic, payload) => {
      const d = decode(ingressStatsSchema, payload, INGRESS_STATS_MAX_BYTES);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      sent.push({ topic, report: d.value });
      return true;
    },
    session: () => session,
    logger: silentLogger,
    clock,
  });
  return {
    r,
    sent,
    set: (s: ForwarderStats[]) => (stats = s),
    tick: (ms: number) => clock.advance(ms),
    connect: (s: string | null) => (session = s),
  };
}

test('the reporter sends nothing while the node has no ingress port', () => {
  const h = reporter();
  for (let i = 0; i < 10; i++) {
    h.tick(5_000);
    assert.equal(h.r.tick(), false);
  }
  assert.equal(h.sent.length, 0);
});

test('the reporter sends on change only, refreshes idle counters, and clears once when ports go', () => {
  const h = reporter([fwStats(8080)]);
  assert.equal(h.r.tick(), true);
  assert.equal(h.sent[0]?.topic, topics.ingressStats('n1'));
  assert.deepEqual(
    h.sent[0]?.report.ports.map((p) => [p.published, p.protocol, p.total]),
    [[8080, 'tcp', 0]],
  );
  h.tick(5_000);
  assert.equal(h.r.tick(), false, 'unchanged counters are not sent again at once');
  h.set([
    fwStats(8080, {
      active: 1,
      total: 3,
      errors: 1,
      connectErrors: 2,
      bytesIn: 10,
      bytesOut: 20,
      backends: { t1: { active: 1, total: 3, errors: 2, draining: false } },
    }),
  ]);
  h.tick(5_000);
  assert.equal(h.r.tick(), true);
  assert.deepEqual(h.sent[1]?.report.ports[0], {
    published: 8080,
    protocol: 'tcp',
    active: 1,
    total: 3,
    errors: 1,
    connectErrors: 2,
    bytesIn: 10,
    bytesOut: 20,
    backends: [{ taskId: 't1', active: 1, total: 3, errors: 2 }],
  });
  h.tick(REFRESH_MS - 1);
  assert.equal(h.r.tick(), false);
  h.tick(1);
  assert.equal(h.r.tick(), true, 'idle counters are refreshed before the leader forgets them');
  h.set([]);
  h.tick(5_000);
  assert.equal(h.r.tick(), true, 'one empty report clears what the leader holds');
  assert.deepEqual(h.sent.at(-1)?.report.ports, []);
  h.tick(5_000);
  assert.equal(h.r.tick(), false);
  assert.equal(h.sent.length, 4);
});

test('the reporter waits for a connection and resends to a new one', () => {
  const h = reporter([fwStats(8080, { total: 1 })]);
  h.connect(null);
  assert.equal(h.r.tick(), false);
  h.connect('mgr-a:4222');
  assert.equal(h.r.tick(), true);
  h.tick(5_000);
  assert.equal(h.r.tick(), false);
  h.connect('mgr-b:4222');
  h.tick(5_000);
  assert.equal(h.r.tick(), true, 'a new manager gets the counters at once');
  // A drop and a reconnect to the same manager seen by a tick also sends again.
  h.connect(null);
  h.tick(5_000);
  h.r.tick();
  h.connect('mgr-b:4222');
  h.tick(5_000);
  assert.equal(h.r.tick(), true);
});

test('a report stays within its cap however many ports and backends the node has', () => {
  const big = Number.MAX_SAFE_INTEGER;
  const stats: ForwarderStats[] = [];
  for (let p = 0; p < 200; p++) {
    const backends: ForwarderStats['backends'] = {};
    for (let b = 0; b < 100; b++)
      backends[`${String(p).padStart(4, '0')}-${String(b).padEnd(59, 'x')}`] = {
        active: b,
        total: big,
        errors: big,
        draining: false,
      };
    stats.push(
      fwStats(1000 + p, {
        active: big,
        total: big,
        errors: big,
        connectErrors: big,
        bytesIn: big,
        bytesOut: big,
        backends,
      }),
    );
  }
  const ports = buildPorts(stats);
  assert.equal(ports.length, MAX_PORTS);
  assert.equal(
    ports.reduce((n, p) => n + p.backends.length, 0),
    MAX_BACKENDS,
  );
  // Every port gets its share, and a cut port keeps its busiest backends.
  for (const p of ports) {
    assert.ok(p.backends.length >= Math.floor(MAX_BACKENDS / MAX_PORTS));
    assert.equal(p.truncated, true);
    assert.equal(p.backends[0]?.active, 99);
  }
  const few = buildPorts([
    fwStats(1, { backends: { a: { active: 0, total: 1, errors: 0, draining: false } } }),
    stats[0] ?? fwStats(2),
  ]);
  assert.deepEqual(
    few.map((p) => [p.backends.length, p.truncated]),
    [
      [1, undefined],
      [100, undefined],
    ],
  );
  const payload = encode({ v: 1, ts: Date.now(), ports });
  assert.ok(payload.length <= INGRESS_STATS_MAX_BYTES, `${payload.length} bytes`);
  assert.ok(payload.length <= PAYLOAD_CAPS.ingress);
  assert.ok(decode(ingressStatsSchema, payload, INGRESS_STATS_MAX_BYTES).ok);
  const h = reporter(stats);
  assert.equal(h.r.tick(), true);
});

test('a node may publish its own ingress counters only', () => {
  const node = { kind: 'node', id: 'n1', role: 'worker' } as const;
  assert.equal(mayPublish(node, 'n1', topics.ingressStats('n1')), true);
  assert.equal(mayPublish(node, 'n1', topics.ingressStats('n2')), false);
  assert.equal(mayPublish(node, 'n1', `${topics.ingressStats('n1')}/x`), false);
  assert.equal(mayPublish(node, 'n1', 'fleet/v1/nodes/+/ingress'), false);
  assert.equal(mayPublish({ kind: 'admin', id: 'a' }, 'a', topics.ingressStats('n1')), false);
  assert.equal(mayPublish({ kind: 'join', role: 'worker' }, 'j', topics.ingressStats('n1')), false);
  assert.equal(topicFamily(topics.ingressStats('n1')), 'ingress');
});

function withStore(fn: (store: Store, ctx: HandlerContext) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-ingress-stats-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    fn(store, { store, now: 1_000, managerId: 'm', dataKey: new Uint8Array(32) });
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const report = (ports: Partial<IngressStatsReport['ports'][number]>[]): Buffer =>
  encode({
    v: 1,
    ts: 1,
    ports: ports.map((p) => ({
      published: 8080,
      protocol: 'tcp',
      active: 0,
      total: 0,
      errors: 0,
      connectErrors: 0,
      bytesIn: 0,
      bytesOut: 0,
      backends: [],
      ...p,
    })),
  });

test('the stats store keeps each node’s newest report while leading, and nothing otherwise', () => {
  withStore((store) => {
    store.apply({
      commands: [
        { type: 'node.put', node: nodeRecord('n1', { name: 'pi-1' }) },
        { type: 'node.put', node: nodeRecord('n2', { name: 'pi-2' }) },
      ],
    });
    const stats = new IngressStats(store, {
      logger: silentLogger,
      clock: new FakeClock(5_000_000),
    });
    assert.equal(stats.receive('n1', report([{ total: 1 }])), false, 'not leading: ignored');
    assert.equal(stats.portStats(store, 8080, 'tcp'), undefined);
    stats.start();
    assert.deepEqual(stats.portStats(store, 8080, 'tcp'), {
      active: 0,
      total: 0,
      errors: 0,
      connectErrors: 0,
      nodes: [],
    });
    assert.equal(stats.receive('n1', report([{ total: 1 }])), true);
    assert.equal(stats.receive('n1', report([{ total: 5, errors: 1, active: 2 }])), true);
    assert.equal(stats.receive('n2', report([{ total: 3, connectErrors: 4 }])), true);
    assert.equal(stats.receive('ghost', report([{ total: 3 }])), false, 'unknown node');
    const s = stats.portStats(store, 8080, 'tcp');
    assert.deepEqual([s?.active, s?.total, s?.errors, s?.connectErrors], [2, 8, 1, 4]);
    assert.deepEqual(
      s?.nodes.map((n) => [n.nodeName, n.total]),
      [
        ['pi-1', 5],
        ['pi-2', 3],
      ],
    );
    assert.deepEqual(stats.portStats(store, 8080, 'udp')?.nodes, []);
    // An empty report (the node's last port closed) forgets the node.
    stats.receive('n2', report([]));
    assert.deepEqual(stats.nodeIds(), ['n1']);
    stats.stop();
    assert.equal(stats.portStats(store, 8080, 'tcp'), undefined);
    stats.start();
    assert.deepEqual(stats.nodeIds(), [], 'a new term starts empty');
  });
});

test('malformed reports are dropped with a rate-limited log line, never a crash', () => {
  withStore((store) => {
    store.apply({ commands: [{ type: 'node.put', node: nodeRecord('n1') }] });
    const logger = memoryLogger('stats');
    const stats = new IngressStats(store, { logger, clock: new FakeClock(1_000) });
    stats.start();
    const bad = [
      Buffer.from('not json'),
      Buffer.from('{}'),
      encode({ v: 2, ts: 1, ports: [] }),
      report([{ published: 0 }]),
      report([{ total: -1 }]),
      report([{ backends: [{ taskId: 'x'.repeat(65), active: 0, total: 0, errors: 0 }] }]),
      encode({ v: 1, ts: 1, ports: Array.from({ length: 1001 }, () => ({})) }),
      Buffer.alloc(INGRESS_STATS_MAX_BYTES + 1, 32),
    ];
    for (let i = 0; i < 100; i++) for (const b of bad) assert.equal(stats.receive('n1', b), false);
    assert.equal(logger.lines.length, 1);
    assert.match(logger.lines[0] ?? '', /dropped ingress stats/);
    assert.deepEqual(stats.nodeIds(), []);
  });
});

test('a node’s counters expire after a minute of silence and go with the node', () => {
  withStore((store) => {
    store.apply({
      commands: [
        { type: 'node.put', node: nodeRecord('n1') },
        { type: 'node.put', node: nodeRecord('n2') },
      ],
    });
    const clock = new FakeClock(1_000_000);
    const stats = new IngressStats(store, { logger: silentLogger, clock });
    stats.start();
    stats.receive('n1', report([{ total: 1 }]));
    stats.receive('n2', report([{ total: 1 }]));
    clock.advance(STATS_MAX_AGE_MS / 2);
    stats.receive('n2', report([{ total: 2 }]));
    clock.advance(STATS_MAX_AGE_MS / 2 + 1);
    assert.deepEqual(stats.nodeIds(), ['n2']);
    store.apply({ commands: [{ type: 'node.remove', id: 'n2' }] });
    assert.deepEqual(stats.nodeIds(), []);
  });
});

test('service inspect shows the counters per port, node and task, in JSON and --pretty', () => {
  withStore((store, ctx) => {
    store.apply({ commands: [{ type: 'node.put', node: nodeRecord('n1', { name: 'pi-1' }) }] });
    const spec = serviceSpecSchema.parse({
      name: 'obsweb',
      task: { image: 'busybox', ports: [{ target: 80, published: 8080 }] },
    });
    const created = handlers['service.create']({ spec }, ctx);
    store.apply({ commands: created.commands as Command[] });
    const plain = handlers['service.inspect']({ service: 'obsweb' }, ctx).result;
    assert.equal(plain.ingress[0]?.stats, undefined, 'no counters without a stats store');
    assert.match(
      renderServiceDetail(plain),
      /Traffic: +no data \(counters are kept by the leader\)/,
    );

    const stats = new IngressStats(store, { logger: silentLogger, clock: new FakeClock(2_000) });
    stats.start();
    stats.receive(
      'n1',
      report([
        {
          active: 1,
          total: 7,
          errors: 2,
          connectErrors: 3,
          bytesIn: 2048,
          bytesOut: 10,
          backends: [{ taskId: 'task-abc', active: 1, total: 7, errors: 3 }],
        },
      ]),
    );
    const d = handlers['service.inspect'](
      { service: 'obsweb' },
      { ...ctx, ingressStats: stats },
    ).result;
    const port = d.ingress[0];
    assert.equal(port?.stats?.total, 7);
    assert.deepEqual(port?.stats?.nodes[0]?.tasks, [
      { taskId: 'task-abc', active: 1, total: 7, errors: 3 },
    ]);
    const text = renderServiceDetail(d);
    assert.match(text, /Ingress 8080\/tcp -> 80/);
    assert.match(text, /Traffic: +1 active, 7 total, 2 errors, 3 failed backend connects/);
    assert.match(text, /pi-1 +\(all\) +1 +7 +2 +3 +2\.0KiB +10B/);
    assert.match(text, /task-abc +1 +7 +3/);
  });
});
