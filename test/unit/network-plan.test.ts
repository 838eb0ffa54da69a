// Planning a node's network bridges: names, subnets from the pool, virtual addresses, names and forwarders from the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VIP_LAST,
  assignVips,
  bridgeInterfaceName,
  forwardPlans,
  goneStacks,
  inSubnet,
  layoutOf,
  localNetworkName,
  nameTable,
  poolPrefixes,
  subnetCandidates,
  type TableNetwork,
} from '../../agent/network/plan.js';

test('each node gets its own engine network name and an interface name of at most 15 characters', () => {
  const a = localNetworkName('myapp_webnet', 'node-aaaaaaaaaaaaaaaa');
  const b = localNetworkName('myapp_webnet', 'node-bbbbbbbbbbbbbbbb');
  assert.notEqual(a, b);
  assert.match(a, /^myapp_webnet\.[a-zA-Z0-9_-]+$/);
  for (const n of [a, b]) assert.ok(bridgeInterfaceName(n).length <= 15);
  assert.notEqual(bridgeInterfaceName(a), bridgeInterfaceName(b));
});

test('a pool is split into /24s; a bad pool is refused with the flag named', () => {
  assert.equal(poolPrefixes('10.213.0.0/16').length, 256);
  assert.deepEqual(poolPrefixes('10.213.4.0/23'), ['10.213.4', '10.213.5']);
  assert.deepEqual(poolPrefixes('10.213.4.77/24'), ['10.213.4']);
  for (const bad of ['10.213.0.0/25', '10.213.0/16', '300.1.1.1/16', 'x'])
    assert.throws(() => poolPrefixes(bad), /--network-pool/);
});

test('subnet candidates skip what the engine uses and start apart for different names', () => {
  const c = subnetCandidates('10.213.0.0/22', 'n.a', ['10.213.1.0/24', '172.17.0.0/16']);
  assert.equal(c.length, 3);
  assert.ok(!c.includes('10.213.1'));
  const starts = new Set(
    ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => subnetCandidates('10.213.0.0/16', n, [])[0]),
  );
  assert.ok(starts.size > 1);
});

test('a layout keeps containers in the lower half and the gateway at .1', () => {
  const l = layoutOf('10.213.7');
  assert.deepEqual(l, {
    subnet: '10.213.7.0/24',
    ipRange: '10.213.7.0/25',
    gateway: '10.213.7.1',
    prefix: '10.213.7',
  });
  assert.ok(inSubnet(l, '10.213.7.20'));
  assert.ok(inSubnet(l, '::ffff:10.213.7.20'));
  assert.ok(!inSubnet(l, '10.213.70.20'));
  assert.ok(!inSubnet(l, '10.213.8.2'));
});

test('virtual addresses are kept, given lowest-first, returned when a service leaves', () => {
  const first = assignVips({}, ['a', 'b']);
  assert.deepEqual(first, { vips: { a: 128, b: 129 }, unplaced: [] });
  const second = assignVips(first.vips, ['b', 'c']);
  assert.deepEqual(second.vips, { b: 129, c: 128 });
  const many = Array.from({ length: 130 }, (_, i) => `s${i}`);
  const full = assignVips({}, many);
  assert.equal(Object.keys(full.vips).length, VIP_LAST - 128 + 1);
  assert.equal(full.unplaced.length, 3);
  assert.deepEqual(assignVips({ x: 5, y: 300 }, ['x', 'y']).vips, { x: 128, y: 129 });
});

const network: TableNetwork = {
  name: 'myapp_webnet',
  internal: false,
  services: [
    {
      service: 'myapp_web',
      names: ['web', 'Web2'],
      ports: [
        {
          target: 80,
          protocol: 'tcp',
          backends: [
            { taskId: 't1', nodeId: 'n1', host: '127.0.0.201', port: 40001 },
            { taskId: 't2', nodeId: 'n2', host: '127.0.0.202', port: 40002 },
          ],
        },
        { target: 53, protocol: 'udp', backends: [] },
      ],
    },
    { service: 'myapp_db', names: ['db'], ports: [] },
  ],
};

test('names map to their service address in lower case; services without an address are left out', () => {
  const names = nameTable(network, layoutOf('10.213.7'), { myapp_web: 130 });
  assert.deepEqual(
    [...names],
    [
      ['myapp_web', '10.213.7.130'],
      ['web', '10.213.7.130'],
      ['web2', '10.213.7.130'],
    ],
  );
});

test('a forwarder per service port, with this node’s backends marked local', () => {
  const plans = forwardPlans(
    network,
    layoutOf('10.213.7'),
    { myapp_web: 130, myapp_db: 131 },
    'n2',
  );
  assert.deepEqual(
    plans.map((p) => [p.key, p.backends.map((b) => `${b.id}:${b.local}`)]),
    [
      ['10.213.7.130:80/tcp', ['t1:false', 't2:true']],
      ['10.213.7.130:53/udp', []],
    ],
  );
});

test('stacks labelled but no longer listed are gone', () => {
  assert.deepEqual([...goneStacks(['a', 'b', '', 'a'], ['b'])], ['a']);
});
