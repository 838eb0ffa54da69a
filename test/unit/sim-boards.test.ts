// Simulated boards' pure parts: names and addresses per board, the flags of `fleet sim agents`, and the chaos host on a fake engine.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import {
  boardAddress,
  boardName,
  boardsFitting,
  formatIpv4,
  parseAddressBase,
} from '../../agent/sim/addresses.js';
import { FILL_DISK_REFUSAL, SimChaosHost } from '../../agent/sim/chaos-host.js';
import { simPlanOf, type SimArgs } from '../../agent/sim/flags.js';
import { progressLine } from '../../agent/sim/run.js';
import { FakeRuntime } from '../../agent/runtime/fake.js';
import { FakeClock } from '../../shared/clock.js';
import { assignedTask } from '../helpers/runtime-contract.js';
import { connector } from '../../manager/cli/connection.js';
import type { RpcClient } from '../../manager/cli/rpc-client.js';
import { findLocalCluster } from '../../manager/cli/sim-cluster.js';

const base = (text: string): number => {
  const r = parseAddressBase(text);
  assert.ok(r.ok, text);
  return r.value;
};

describe('board names and addresses', () => {
  test('boards are numbered from 1, padded to four digits, more when the count needs them', () => {
    assert.equal(boardName('sim', 1, 30), 'sim-0001');
    assert.equal(boardName('rack', 1000, 1000), 'rack-1000');
    assert.equal(boardName('sim', 7, 12_000), 'sim-00007');
  });

  test('each board takes .1 to .254 of a block, then the next block', () => {
    const plan = { kind: 'base', base: base('127.1.0.0') } as const;
    assert.equal(boardAddress(plan, 1), '127.1.0.1');
    assert.equal(boardAddress(plan, 254), '127.1.0.254');
    assert.equal(boardAddress(plan, 255), '127.1.1.1');
    assert.equal(boardAddress(plan, 1000), '127.1.3.238');
    const all = Array.from({ length: 2000 }, (_, i) => boardAddress(plan, i + 1));
    assert.equal(new Set(all).size, 2000, 'no two boards share an address');
    assert.ok(all.every((a) => !a.endsWith('.0') && !a.endsWith('.255')));
  });

  test('a shared address is the same for every board', () => {
    const plan = { kind: 'shared', address: '127.0.0.2' } as const;
    assert.equal(boardAddress(plan, 1), '127.0.0.2');
    assert.equal(boardAddress(plan, 500), '127.0.0.2');
  });

  test('bases that are not loopback or do not end in .0 are refused with the reason', () => {
    const notLoopback = parseAddressBase('10.1.0.0');
    assert.ok(!notLoopback.ok && /not a loopback address/.test(notLoopback.reason));
    const notZero = parseAddressBase('127.1.0.5');
    assert.ok(!notZero.ok && /must end in \.0/.test(notZero.reason));
    const garbage = parseAddressBase('127.1.0');
    assert.ok(!garbage.ok && /not an IPv4 address/.test(garbage.reason));
  });

  test('the room a base leaves ends inside 127.0.0.0/8', () => {
    assert.equal(boardsFitting(base('127.255.255.0')), 254);
    const last = { kind: 'base', base: base('127.255.0.0') } as const;
    assert.equal(boardAddress(last, boardsFitting(base('127.255.0.0'))), '127.255.255.254');
    assert.equal(formatIpv4(base('127.43.2.0')), '127.43.2.0');
  });
});

const args = (over: Partial<SimArgs> = {}): SimArgs => ({
  count: '30',
  prefix: 'sim',
  'join-rate': 50,
  keep: false,
  'allow-chaos': false,
  insecure: false,
  quiet: false,
  verbose: false,
  ...over,
});

const TOKEN = `FLEET-1-${'a'.repeat(32)}-${'b'.repeat(36)}`;

const refusal = (over: Partial<SimArgs>): string => {
  const r = simPlanOf(args(over));
  assert.ok(!r.ok, `expected ${JSON.stringify(over)} to be refused`);
  return r.error;
};

describe('fleet sim agents flags', () => {
  test('defaults: boards on 127.1.0.0 and up, labelled fleet.sim=true, managers from the context', () => {
    const r = simPlanOf(args());
    assert.ok(r.ok);
    assert.equal(r.plan.count, 30);
    assert.deepEqual(r.plan.managers, []);
    assert.equal(r.plan.token, undefined);
    assert.deepEqual(r.plan.labels, { 'fleet.sim': 'true' });
    assert.deepEqual(r.plan.addresses, { kind: 'base', base: base('127.1.0.0') });
    assert.equal(r.plan.dataDir, undefined);
  });

  test('repeated and comma-separated managers, labels and the other flags are taken as given', () => {
    const r = simPlanOf(
      args({
        count: '1000',
        manager: ['127.0.43.1:4883,127.0.43.2:4883', '127.0.43.3:4883', '127.0.43.1:4883'],
        token: ` ${TOKEN} `,
        label: ['rack=a', 'fleet.sim=false', 'note=x=y'],
        'address-base': '127.43.0.0',
        'data-dir': 'boards',
        'ready-file': 'ready.json',
        'allow-chaos': true,
        keep: true,
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.plan.managers, ['127.0.43.1:4883', '127.0.43.2:4883', '127.0.43.3:4883']);
    assert.equal(r.plan.token, TOKEN);
    assert.deepEqual(r.plan.labels, { rack: 'a', 'fleet.sim': 'true', note: 'x=y' });
    assert.deepEqual(r.plan.addresses, { kind: 'base', base: base('127.43.0.0') });
    assert.equal(r.plan.dataDir, 'boards');
    assert.equal(r.plan.readyFile, 'ready.json');
    assert.ok(r.plan.allowChaos && r.plan.keep);
  });

  test('--address puts every board on one address', () => {
    const r = simPlanOf(args({ address: '127.0.0.2' }));
    assert.ok(r.ok);
    assert.deepEqual(r.plan.addresses, { kind: 'shared', address: '127.0.0.2' });
  });

  test('mistakes are refused, each with what was expected', () => {
    assert.match(refusal({ count: '0' }), /whole number from 1 to 10000/);
    assert.match(refusal({ count: '1e3' }), /whole number/);
    assert.match(refusal({ count: '10001' }), /whole number/);
    assert.match(refusal({ prefix: 'a b' }), /--prefix/);
    assert.match(refusal({ 'join-rate': 0 }), /--join-rate/);
    assert.match(refusal({ 'join-rate': Number.NaN }), /--join-rate/);
    assert.match(refusal({ label: ['novalue'] }), /--label must be k=v, got "novalue"/);
    assert.match(refusal({ manager: ['127.0.43.1'] }), /--manager must be HOST:PORT/);
    assert.match(refusal({ token: '  ' }), /--token must be a join token/);
    assert.match(refusal({ token: 'FLEET-1-aa-bb' }), /--token must be a join token/);
    assert.match(refusal({ address: '127.0.0.2', 'address-base': '127.1.0.0' }), /not both/);
    assert.match(refusal({ address: '192.168.1.2' }), /not a loopback address/);
    assert.match(refusal({ 'address-base': '127.255.255.0', count: '255' }), /room for 254/);
  });

  test('the progress line counts joined, reused, connected and failed boards', () => {
    const c = {
      count: 10,
      joined: 3,
      reused: 4,
      started: 7,
      connected: 6,
      failed: 0,
      lastError: '',
    };
    assert.equal(progressLine(c), 'sim: 7/10 joined (4 from earlier runs), 6/10 connected\n');
    const failed = { ...c, reused: 0, failed: 1, lastError: 'timed out' };
    assert.equal(progressLine(failed), 'sim: 3/10 joined, 6/10 connected, 1 failed (timed out)\n');
  });
});

describe('the chaos host of a simulated board', () => {
  const setup = () => {
    const clock = new FakeClock();
    const runtime = new FakeRuntime({ clock });
    const restarts: { hard: boolean; downMs: number }[] = [];
    const board = {
      restartAgent: async (hard: boolean, downMs: number) => void restarts.push({ hard, downMs }),
    };
    return { clock, runtime, restarts, host: new SimChaosHost(board, runtime, clock) };
  };
  const start = (runtime: FakeRuntime, id: string) =>
    runtime.start(assignedTask(id, 1, 'sim-image', []), { nodeId: 'n1', hostIp: '127.43.0.1' });

  test('an agent restart is handed to the board one clock turn later, hard or soft as ordered', async () => {
    const { clock, restarts, host } = setup();
    host.restartAgent(true, 2_000);
    assert.deepEqual(restarts, [], 'not from inside the order that asked for it');
    await clock.advanceAsync(0);
    host.restartAgent(false, 500);
    await clock.advanceAsync(0);
    assert.deepEqual(restarts, [
      { hard: true, downMs: 2_000 },
      { hard: false, downMs: 500 },
    ]);
  });

  test('an engine restart ends every workload and refuses starts until the engine is back', async () => {
    const { clock, runtime, host } = setup();
    await start(runtime, 't1');
    await start(runtime, 't2');
    const exits: string[] = [];
    runtime.watchExits('n1', (_rid, taskId, code) => exits.push(`${taskId}:${code}`));
    let back = false;
    const restarted = host.restartEngine(3_000).then(() => (back = true));
    assert.deepEqual(exits.sort(), ['t1:137', 't2:137']);
    assert.ok((await runtime.list('n1')).every((w) => !w.running));
    await assert.rejects(start(runtime, 't3'), /engine is restarting/);
    await clock.advanceAsync(2_999);
    assert.equal(back, false);
    await assert.rejects(start(runtime, 't3'), /engine is restarting/);
    await clock.advanceAsync(1);
    await restarted;
    assert.equal((await start(runtime, 't3')).running, true);
  });

  test('fill-disk is refused with the reason; other faults are not', () => {
    const { host } = setup();
    assert.equal(host.refuses('fill-disk'), FILL_DISK_REFUSAL);
    assert.equal(host.refuses('kill-agent'), null);
    assert.equal(host.refuses('restart-engine'), null);
  });
});

test('without --manager and --token, the managers and worker token come from the current connection settings', async () => {
  const saved = { ...process.env };
  const { connect } = connector;
  const calls: { method: string; params: unknown }[] = [];
  const connections: unknown[] = [];
  process.env.XDG_CONFIG_HOME = path.join(os.tmpdir(), 'fleet-sim-no-config');
  process.env.FLEET_HOST = '127.0.43.5:4990,127.0.43.6';
  process.env.FLEET_IDENTITY = 'admin.json';
  delete process.env.FLEET_INSECURE;
  delete process.env.FLEET_CONTEXT;
  connector.connect = async (args) => {
    connections.push(args);
    const client = {
      call: async (method: string, params: unknown) => {
        calls.push({ method, params });
        return { token: 'FLEET-1-abc-def' };
      },
      close: async () => undefined,
    };
    return client as unknown as RpcClient;
  };
  try {
    assert.deepEqual(await findLocalCluster(true), {
      managers: ['127.0.43.5:4990', '127.0.43.6:4883'],
      token: 'FLEET-1-abc-def',
      insecure: true,
    });
    assert.deepEqual(calls, [
      { method: 'jointoken.get', params: { role: 'worker', rotate: false } },
    ]);
    assert.equal(connections.length, 1);
  } finally {
    connector.connect = connect;
    process.env = saved;
  }
});
