// Secrets and configs without Docker: sealing, encryption at rest, delivery per node, files, CLI parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { params } from '../../shared/api.js';
import { FleetError } from '../../shared/errors.js';
import { generateNodeKeys } from '../../shared/identity.js';
import { silentLogger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { decryptAtRest, encryptAtRest, newDataKey, sealTo, unseal } from '../../shared/sealing.js';
import { taskTemplateSchema, type ServiceRecord } from '../../shared/spec.js';
import { TaskFileStore } from '../../agent/reconcile/task-files.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { parseFileRef } from '../../manager/cli/flags/file-refs.js';
import { buildSpec } from '../../manager/cli/service/spec.js';
import { UsageError } from '../../manager/cli/usage.js';
import { withFiles } from '../../manager/dispatcher/task-files.js';
import { Store } from '../../manager/store/store.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const text = (u: Uint8Array | null): string | null => (u ? Buffer.from(u).toString() : null);

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'fleet-secrets-unit-'));
}

test('a value sealed to a node opens only with that node’s box key', () => {
  const node = generateNodeKeys();
  const other = generateNodeKeys();
  const sealed = sealTo(node.box.publicKey, bytes('hunter2'));
  assert.equal(text(unseal(sealed, node.box.secretKey)), 'hunter2');
  assert.equal(unseal(sealed, other.box.secretKey), null);
  const raw = Buffer.from(sealed, 'base64');
  raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
  assert.equal(unseal(raw.toString('base64'), node.box.secretKey), null, 'tampering is detected');
  assert.notEqual(sealTo(node.box.publicKey, bytes('x')), sealTo(node.box.publicKey, bytes('x')));
});

test('a value encrypted at rest opens only with the same data key', () => {
  const key = newDataKey();
  const enc = encryptAtRest(key, bytes('s3cret-value'));
  assert.ok(!Buffer.from(enc, 'base64').includes('s3cret-value'));
  assert.equal(text(decryptAtRest(key, enc)), 's3cret-value');
  assert.equal(decryptAtRest(newDataKey(), enc), null);
});

test('secret.create stores only ciphertext: the value is in no database file nor in the answer', async () => {
  const dir = await tempDir();
  const store = new Store(path.join(dir, 'state.db'));
  const value = `v-${randomBytes(12).toString('hex')}`;
  const ctx: HandlerContext = { store, now: 1000, managerId: 'm', dataKey: newDataKey() };
  const p = params['secret.create'].parse({
    name: 'db-pass',
    data: Buffer.from(value).toString('base64'),
  });
  const out = handlers['secret.create'](p, ctx);
  store.apply({ commands: out.commands ?? [], request: { key: 'k', response: out.result } });
  assert.equal(out.result.size, value.length);
  assert.ok(!JSON.stringify(out.result).includes(value));
  const rec = store.secretByName('db-pass');
  assert.ok(rec);
  assert.equal(text(decryptAtRest(ctx.dataKey, rec.encrypted)), value);
  store.close();
  for (const f of await fs.readdir(dir)) {
    const raw = await fs.readFile(path.join(dir, f));
    assert.ok(!raw.includes(value), `${f} does not hold the value`);
    assert.ok(!raw.includes(Buffer.from(value).toString('base64')), `${f} does not hold it base64`);
  }
  await fs.rm(dir, { recursive: true, force: true });
});

test('secret.rm is refused while a service uses the secret', async () => {
  const dir = await tempDir();
  const store = new Store(path.join(dir, 'state.db'));
  const ctx: HandlerContext = { store, now: 1000, managerId: 'm', dataKey: newDataKey() };
  const created = handlers['secret.create'](
    params['secret.create'].parse({ name: 'tok', data: 'YWJj' }),
    ctx,
  );
  store.apply({ commands: created.commands ?? [] });
  const spec = buildSpec({
    name: 'api',
    image: 'busybox',
    secret: [parseFileRef('secret', 'secret', 'tok')],
  });
  const svc = handlers['service.create']({ spec }, ctx);
  store.apply({ commands: svc.commands ?? [] });
  assert.throws(
    () => handlers['secret.rm']({ secret: 'tok' }, ctx),
    (e: unknown) =>
      e instanceof FleetError && e.code === 'conflict' && /service api/.test(e.message),
  );
  const gone = handlers['service.rm']({ service: 'api' }, ctx);
  store.apply({ commands: gone.commands ?? [] });
  const rm = handlers['secret.rm']({ secret: 'tok' }, ctx);
  assert.deepEqual(rm.commands, [{ type: 'secret.remove', id: created.result.id }]);
  store.apply({ commands: rm.commands ?? [] });
  assert.throws(
    () => handlers['service.create']({ spec }, ctx),
    (e: unknown) => e instanceof FleetError && e.code === 'not_found',
    'a service cannot name a missing secret',
  );
  store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test('an assignment carries a task’s secrets sealed to its node, and none for tasks without', async () => {
  const dir = await tempDir();
  const store = new Store(path.join(dir, 'state.db'));
  const dataKey = newDataKey();
  const ctx: HandlerContext = { store, now: 1, managerId: 'm', dataKey };
  for (const name of ['a', 'b']) {
    const out = handlers['secret.create'](
      params['secret.create'].parse({
        name,
        data: Buffer.from(`value-${name}`).toString('base64'),
      }),
      ctx,
    );
    store.apply({ commands: out.commands ?? [] });
  }
  const node = generateNodeKeys();
  const task = (secrets: string[]): AssignedTask => ({
    id: 't1',
    serviceId: 's',
    serviceName: 'svc',
    slot: 1,
    notBefore: 0,
    template: taskTemplateSchema.parse({
      image: 'x',
      secrets: secrets.map((n) => ({ name: n, target: `/run/secrets/${n}` })),
    }),
  });
  const withA = withFiles(store, dataKey, node.box.publicKey, task(['a']));
  assert.deepEqual(
    withA.secrets?.map((s) => s.name),
    ['a'],
  );
  assert.equal(text(unseal(withA.secrets?.[0]?.sealed ?? '', node.box.secretKey)), 'value-a');
  assert.ok(!JSON.stringify(withA).includes('value-a'));
  assert.equal(withFiles(store, dataKey, node.box.publicKey, task([])).secrets, undefined);
  store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test('the agent writes secret files 0400 in the task’s directory and deletes them with the task', async () => {
  const dir = await tempDir();
  const node = generateNodeKeys();
  const files = new TaskFileStore({
    nodeId: 'n1',
    dataDir: path.join(dir, 'data'),
    boxSecretKey: node.box.secretKey,
    logger: silentLogger,
    secretsRoot: path.join(dir, 'mem'),
  });
  const task: AssignedTask = {
    id: 'task1',
    serviceId: 's',
    serviceName: 'svc',
    slot: 1,
    notBefore: 0,
    template: taskTemplateSchema.parse({
      image: 'x',
      secrets: [{ name: 'pw', target: '/etc/pw' }],
      configs: [{ name: 'conf', target: '/conf' }],
    }),
    secrets: [{ name: 'pw', sealed: sealTo(node.box.publicKey, bytes('open-sesame')) }],
    configs: [{ name: 'conf', data: Buffer.from('k=v').toString('base64') }],
  };
  const out = await files.materialize(task);
  assert.equal(out.secretsDir, path.join(dir, 'mem', 'task1'));
  const pw = path.join(dir, 'mem', 'task1', 'pw');
  assert.equal(await fs.readFile(pw, 'utf8'), 'open-sesame');
  assert.equal((await fs.stat(pw)).mode & 0o777, 0o400);
  assert.deepEqual(out.mounts, [
    { source: pw, target: '/etc/pw' },
    { source: path.join(dir, 'data', 'configs', 'task1', 'conf'), target: '/conf' },
  ]);
  await files.materialize(task); // a restart writes them again
  await files.remove('task1');
  await assert.rejects(fs.stat(pw));
  await assert.rejects(
    files.materialize({ ...task, secrets: [] }),
    /secret pw was not delivered/,
    'a missing secret rejects the task',
  );
  await fs.rm(dir, { recursive: true, force: true });
});

test('--secret and --config parse NAME[,target=PATH] with docker’s default targets', () => {
  assert.deepEqual(parseFileRef('secret', 'secret', 'db'), {
    name: 'db',
    target: '/run/secrets/db',
  });
  assert.deepEqual(parseFileRef('config', 'config', 'nginx.conf'), {
    name: 'nginx.conf',
    target: '/nginx.conf',
  });
  assert.deepEqual(parseFileRef('secret', 'secret', 'db-v2,target=/run/secrets/db'), {
    name: 'db-v2',
    target: '/run/secrets/db',
  });
  assert.deepEqual(parseFileRef('secret', 'secret', 'source=db,target=pw'), {
    name: 'db',
    target: '/run/secrets/pw',
  });
  for (const bad of ['', 'a,b', 'db,target=/x/../etc', 'db,mode=0400', '../x', 'db,target=/']) {
    assert.throws(
      () => parseFileRef('secret', 'secret', bad),
      (e: unknown) => e instanceof UsageError && e.message.includes('--secret'),
      bad,
    );
  }
  const spec = buildSpec({
    name: 'web',
    image: 'busybox',
    secret: [parseFileRef('secret', 'secret', 'db')],
    config: [parseFileRef('config', 'config', 'site,target=/etc/site')],
  });
  assert.deepEqual(spec.task.secrets, [{ name: 'db', target: '/run/secrets/db' }]);
  assert.deepEqual(spec.task.configs, [{ name: 'site', target: '/etc/site' }]);
});

test('service.update --secret-add at the same target replaces the old secret (rotation)', async () => {
  const dir = await tempDir();
  const store = new Store(path.join(dir, 'state.db'));
  const ctx: HandlerContext = { store, now: 1, managerId: 'm', dataKey: newDataKey() };
  for (const name of ['db', 'db-v2']) {
    const out = handlers['secret.create'](
      params['secret.create'].parse({ name, data: 'eA==' }),
      ctx,
    );
    store.apply({ commands: out.commands ?? [] });
  }
  const spec = buildSpec({ name: 'api', image: 'b', secret: [parseFileRef('s', 'secret', 'db')] });
  store.apply({ commands: handlers['service.create']({ spec }, ctx).commands ?? [] });
  const upd = handlers['service.update'](
    params['service.update'].parse({
      service: 'api',
      secretAdd: [parseFileRef('secret-add', 'secret', 'db-v2,target=/run/secrets/db')],
    }),
    ctx,
  );
  const next = (upd.commands?.[0] as { service: ServiceRecord }).service;
  assert.deepEqual(next.spec.task.secrets, [{ name: 'db-v2', target: '/run/secrets/db' }]);
  assert.equal(next.specVersion, 2, 'tasks are replaced to pick up the new secret');
  store.close();
  await fs.rm(dir, { recursive: true, force: true });
});
