// Managers that run tasks (records, scheduling eligibility) and registry credentials from the CLI to the pull.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openRegistryAuth } from '../../agent/reconcile/registry-auth.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { managerNodeRecord } from '../../manager/bootstrap/manager-node.js';
import { registryAuthFor } from '../../manager/cli/flags/registry-auth.js';
import { UsageError } from '../../manager/cli/usage.js';
import { withInfo } from '../../manager/dispatcher/reports.js';
import { withRegistryAuth } from '../../manager/dispatcher/task-files.js';
import { Store } from '../../manager/store/store.js';
import { params } from '../../shared/api.js';
import { generateNodeKeys, type Identity } from '../../shared/identity.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { newDataKey } from '../../shared/sealing.js';
import { takesTasks } from '../../shared/spec.js';
import { nodeRecord } from '../helpers/records.js';

const tempDir = (): Promise<string> => fs.mkdtemp(path.join(os.tmpdir(), 'fleet-unit-auth-'));

test('pure managers take no tasks; managers with an agent beside them and agents do', () => {
  assert.equal(takesTasks(nodeRecord('w')), true);
  assert.equal(takesTasks(nodeRecord('m', { manager: { address: 'a:1' } })), false);
  assert.equal(takesTasks(nodeRecord('m', { manager: { address: 'a:1', worker: true } })), true);
});

test('a manager whose agent reports becomes schedulable, keeping what the agent reported', () => {
  const joined = nodeRecord('m', {
    role: 'manager',
    availability: 'drain',
    manager: { address: '127.0.0.131:4883' },
  });
  const info = {
    resources: { cpus: 4, memoryBytes: 1024 },
    platform: { os: 'linux', arch: 'arm64' },
    runtime: 'docker' as const,
    address: '127.0.0.131',
    agentVersion: '0.1.0',
    diskFull: false,
  };
  const worker = withInfo(joined, info, 5);
  assert.ok(worker);
  assert.deepEqual(worker.manager, { address: '127.0.0.131:4883', worker: true });
  assert.equal(worker.availability, 'active');
  assert.equal(withInfo(worker, info, 6), null, 'nothing changes on the next report');
  const drained = { ...worker, availability: 'drain' as const };
  assert.equal(withInfo(drained, info, 7), null, 'a drain by the user stays');
});

test("a leader's own record keeps its agent's facts when it runs a worker, and is drained without", () => {
  const keys = generateNodeKeys();
  const identity = {
    id: 'm1',
    keys,
    cert: { body: JSON.stringify({ serial: 's1' }), sig: '' },
  } as unknown as Identity;
  const prev = nodeRecord('m1', {
    manager: { address: 'h:1', worker: true },
    resources: { cpus: 4, memoryBytes: 99 },
    runtime: 'docker',
    status: 'down',
  });
  const worker = managerNodeRecord(identity, 'm1', 'h', 'h:1', 10, prev, true);
  assert.equal(worker.runtime, 'docker');
  assert.equal(worker.status, 'down', 'health stays the agent’s');
  assert.equal(worker.availability, 'active');
  const pure = managerNodeRecord(identity, 'm1', 'h', 'h:1', 10, prev, false);
  assert.deepEqual(pure.manager, { address: 'h:1' });
  assert.equal(pure.availability, 'drain');
});

test('registry credentials are kept encrypted, sealed to the node that pulls, opened only there', async () => {
  const dir = await tempDir();
  const store = new Store(path.join(dir, 'state.db'));
  const dataKey = newDataKey();
  const ctx: HandlerContext = { store, now: 1, managerId: 'm', dataKey };
  const auth = { username: 'ann', password: 'pa55-word', serveraddress: '127.0.0.1:5137' };
  const out = handlers['service.create'](
    params['service.create'].parse({
      spec: { name: 'app', task: { image: '127.0.0.1:5137/app:latest' } },
      registryAuth: auth,
    }),
    ctx,
  );
  store.apply({ commands: out.commands ?? [] });
  assert.equal(out.result.withRegistryAuth, true);
  assert.ok(!JSON.stringify(out.result).includes('pa55-word'), 'never in an answer');
  const svc = store.serviceByName('app');
  assert.ok(svc?.registryAuth && !svc.registryAuth.includes('pa55'), 'encrypted at rest');
  const node = generateNodeKeys();
  const other = generateNodeKeys();
  const task = {
    id: 't1',
    serviceId: svc.id,
    serviceName: 'app',
    slot: 1,
    notBefore: 0,
    template: svc.spec.task,
  } satisfies AssignedTask;
  const sent = withRegistryAuth(store, dataKey, node.box.publicKey, task);
  assert.ok(sent.registryAuth && !sent.registryAuth.includes('pa55'));
  assert.deepEqual(openRegistryAuth(sent, node.box.secretKey), auth);
  assert.equal(openRegistryAuth(sent, other.box.secretKey), undefined, 'another node cannot');
  assert.equal(openRegistryAuth(task, node.box.secretKey), undefined);
  store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test('--with-registry-auth reads the auths entry, and says why when there is none', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'config.json');
  await fs.writeFile(
    file,
    JSON.stringify({
      auths: { '127.0.0.1:5137': { auth: Buffer.from('ann:pw').toString('base64') } },
    }),
  );
  assert.equal((await registryAuthFor('127.0.0.1:5137/app', file)).username, 'ann');
  await assert.rejects(
    registryAuthFor('ghcr.io/o/app', file),
    (e: unknown) => e instanceof UsageError && /no "auths" entry for ghcr.io/.test(e.message),
  );
  await assert.rejects(
    registryAuthFor('app', path.join(dir, 'missing.json')),
    (e: unknown) => e instanceof UsageError && /does not exist/.test(e.message),
  );
  await fs.rm(dir, { recursive: true, force: true });
});
