// Stack deploys on the manager: one proposal, only what changed, prune, conflicts, immutable secrets, networks and removal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { params, type Method, type Results } from '../../shared/api.js';
import { FleetError } from '../../shared/errors.js';
import { STACK_LABEL } from '../../shared/network.js';
import { newDataKey } from '../../shared/sealing.js';
import type { StackPlanInput } from '../../shared/stack.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { Store } from '../../manager/store/store.js';

function withStore(fn: (call: Caller, store: Store) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-stack-'));
  const store = new Store(path.join(dir, 'state.db'));
  const ctx: HandlerContext = { store, now: 1_000, managerId: 'm', dataKey: newDataKey() };
  const call: Caller = (method, p) => {
    const h = handlers[method] as (p: unknown, c: HandlerContext) => { result: unknown };
    const out = h(params[method].parse(p), ctx) as {
      result: Results[typeof method];
      commands?: Parameters<Store['apply']>[0]['commands'];
    };
    store.apply({ commands: out.commands ?? [] });
    ctx.now += 1000;
    return out.result;
  };
  try {
    fn(call, store);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Caller = <M extends Method>(method: M, p: unknown) => Results[M];

const service = (stack: string, name: string, extra: object = {}, task: object = {}) => ({
  name: `${stack}_${name}`,
  labels: { [STACK_LABEL]: stack },
  task: {
    image: 'busybox',
    networks: [{ name: `${stack}_webnet`, aliases: [name] }],
    ...task,
  },
  ...extra,
});

const plan = (name: string, services: object[], more: Partial<StackPlanInput> = {}) => ({
  name,
  services,
  networks: [{ name: `${name}_webnet` }],
  ...more,
});

const app = (replicas = 3, image = 'busybox') =>
  plan('myapp', [
    service('myapp', 'rabbit', {}, { expose: [{ port: 5672 }] }),
    service(
      'myapp',
      'web',
      { replicas, dependsOn: [{ service: 'myapp_rabbit' }] },
      {
        image,
        ports: [{ target: 80, published: 8000 }],
      },
    ),
    service('myapp', 'worker', { replicas: 2 }),
  ]);

test('a first deploy creates the network and every service in one go', () => {
  withStore((call, store) => {
    const r = call('stack.deploy', { plan: app() });
    assert.deepEqual(r.networksCreated, ['myapp_webnet']);
    assert.deepEqual(r.created, ['myapp_rabbit', 'myapp_web', 'myapp_worker']);
    assert.equal(store.networkByName('myapp_webnet')?.stack, 'myapp');
    assert.deepEqual(store.stackByName('myapp')?.services.length, 3);
    const ls = call('stack.ls', {});
    assert.deepEqual(
      ls.map((s) => [s.name, s.services]),
      [['myapp', 3]],
    );
    assert.deepEqual(
      call('stack.services', { stack: 'myapp' }).map((s) => s.name),
      ['myapp_rabbit', 'myapp_web', 'myapp_worker'],
    );
  });
});

test('a redeploy touches only what changed: a scale is a scale, an image a new version', () => {
  withStore((call, store) => {
    call('stack.deploy', { plan: app() });
    const before = (n: string) => store.serviceByName(n);
    const rabbit = before('myapp_rabbit');
    const same = call('stack.deploy', { plan: app() });
    assert.deepEqual(same.unchanged, ['myapp_rabbit', 'myapp_web', 'myapp_worker']);
    assert.deepEqual(same.updated, []);
    const scaled = call('stack.deploy', { plan: app(5) });
    assert.deepEqual(scaled.updated, ['myapp_web']);
    assert.equal(before('myapp_web')?.spec.replicas, 5);
    assert.equal(before('myapp_web')?.specVersion, 1, 'a scale replaces no task');
    assert.deepEqual(before('myapp_rabbit'), rabbit, 'rabbit untouched');
    const rolled = call('stack.deploy', { plan: app(5, 'busybox:2') });
    assert.deepEqual(rolled.updated, ['myapp_web']);
    assert.equal(before('myapp_web')?.specVersion, 2);
    assert.equal(before('myapp_web')?.updateStatus?.state, 'updating');
  });
});

test('services that left the file are kept unless --prune', () => {
  withStore((call, store) => {
    call('stack.deploy', { plan: app() });
    const smaller = plan('myapp', [service('myapp', 'rabbit', {}, { expose: [{ port: 5672 }] })]);
    const kept = call('stack.deploy', { plan: smaller });
    assert.deepEqual(kept.kept, ['myapp_web', 'myapp_worker']);
    assert.ok(store.serviceByName('myapp_web'));
    const pruned = call('stack.deploy', { plan: smaller, prune: true });
    assert.deepEqual(pruned.removed, ['myapp_web', 'myapp_worker']);
    assert.equal(store.serviceByName('myapp_web'), undefined);
    assert.deepEqual(store.stackByName('myapp')?.services, ['myapp_rabbit']);
  });
});

test('a deploy that fails a check changes nothing', () => {
  withStore((call, store) => {
    call('service.create', { spec: { name: 'other_web', task: { image: 'busybox' } } });
    const index = store.appliedIndex;
    const bad = [
      plan('other', [service('other', 'web')]), // a service of the same name outside the stack
      plan('x', [service('x', 'a', { dependsOn: [{ service: 'x_missing' }] })]),
      plan('x', [service('x', 'a', {}, { networks: [{ name: 'nowhere' }] })]),
      plan('x', [service('x', 'a', {}, { secrets: [{ name: 'nope', target: '/run/secrets/n' }] })]),
      plan('x', [{ ...service('x', 'a'), labels: {} }]),
      plan('x', [service('x', 'a')], { networks: [{ name: 'ext', external: true }] }),
    ];
    for (const p of bad)
      assert.throws(
        () => call('stack.deploy', { plan: p }),
        (e) => e instanceof FleetError,
        JSON.stringify(p).slice(0, 120),
      );
    assert.equal(store.appliedIndex, index);
    assert.equal([...store.stacks()].length, 0);
    assert.equal([...store.networks()].length, 0);
  });
});

test("a stack's secret is created from the file once and cannot change under its name", () => {
  withStore((call, store) => {
    const withSecret = (data: string) =>
      plan(
        'app',
        [service('app', 'db', {}, { secrets: [{ name: 'app_pw', target: '/run/secrets/pw' }] })],
        { secrets: [{ name: 'app_pw', data: Buffer.from(data).toString('base64') }] },
      );
    assert.deepEqual(call('stack.deploy', { plan: withSecret('s3cret') }).secretsCreated, [
      'app_pw',
    ]);
    assert.equal(store.secretByName('app_pw')?.labels[STACK_LABEL], 'app');
    assert.deepEqual(call('stack.deploy', { plan: withSecret('s3cret') }).secretsCreated, []);
    assert.throws(
      () => call('stack.deploy', { plan: withSecret('other') }),
      /secret app_pw changed/,
    );
    const rm = call('stack.rm', { stack: 'app' });
    assert.deepEqual(rm.services, ['app_db']);
    assert.equal(store.secretByName('app_pw'), undefined);
    assert.equal(store.networkByName('app_webnet'), undefined);
    assert.equal(store.stackByName('app'), undefined);
  });
});

test('networks: created, joined with --network, refused when in use or missing', () => {
  withStore((call, store) => {
    call('network.create', { name: 'backend' });
    assert.throws(() => call('network.create', { name: 'backend' }), /already exists/);
    const spec = (networks: object[]) => ({ name: 'db', task: { image: 'redis', networks } });
    assert.throws(
      () => call('service.create', { spec: spec([{ name: 'frontend' }]) }),
      /network frontend/,
    );
    call('service.create', { spec: spec([{ name: 'backend', aliases: ['database'] }]) });
    assert.deepEqual(call('network.inspect', { network: 'backend' }).services, ['db']);
    assert.throws(() => call('network.rm', { network: 'backend' }), /in use by service db/);
    call('service.update', { service: 'db', options: { networkRm: ['backend'] } });
    assert.equal(store.serviceByName('db')?.spec.task.networks, undefined);
    call('network.rm', { network: 'backend' });
    assert.equal(call('network.ls', {}).length, 0);
  });
});

test("another stack's network is joined only when attachable", () => {
  withStore((call) => {
    call('stack.deploy', { plan: app() });
    const outsider = {
      name: 'probe',
      task: { image: 'busybox', networks: [{ name: 'myapp_webnet' }] },
    };
    assert.throws(() => call('service.create', { spec: outsider }), /not attachable/);
    assert.throws(() => call('network.rm', { network: 'myapp_webnet' }), /belongs to stack/);
  });
});
