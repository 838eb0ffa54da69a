// test-lane: own-addresses
// A manager's own faults: refused without --allow-chaos (stats excepted), a partition healed when it ends, a restart after the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateNodeKeys,
  generateSigningKey,
  issueCertificate,
  type Identity,
} from '../../shared/identity.js';
import { signChaos, type Fault } from '../../shared/chaos.js';
import { FakeClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/log.js';
import {
  ManagerFaults,
  NOT_ALLOWED,
  type ManagerChaosOptions,
} from '../../manager/chaos/manager-faults.js';

const root = generateSigningKey();
const clock = new FakeClock(1_800_000_000_000);

function adminIdentity(): Identity {
  const keys = generateNodeKeys();
  const body = {
    id: 'admin1',
    role: 'admin' as const,
    signPub: keys.sign.publicKey,
    boxPub: keys.box.publicKey,
    issuedAt: clock.now() - 1000,
    expiresAt: clock.now() + 86_400_000,
    serial: 's1',
  };
  const cert = issueCertificate(body, root);
  return { v: 1, id: 'admin1', role: 'admin', keys, cert, rootPub: root.publicKey, managers: [] };
}

const admin = adminIdentity();

function faults(chaos: ManagerChaosOptions | undefined, peers: string[] = ['m2', 'm3']) {
  const partitions: string[][] = [];
  const f = new ManagerFaults({
    selfId: 'm1',
    rootPub: () => root.publicKey,
    clock,
    logger: silentLogger,
    chaos,
    setPartition: (ids) => partitions.push(ids),
    peers: () => peers,
  });
  const send = (fault: Fault, durationMs = 1000) =>
    f.carryOut(signChaos(admin, { target: 'm1', fault, durationMs }, clock.now()));
  return { f, partitions, send };
}

test('without --allow-chaos a manager refuses faults and still answers stats', async () => {
  const { send, partitions } = faults({ allow: false });
  const killed = await send('kill-manager');
  assert.deepEqual([killed.ok, killed.error], [false, NOT_ALLOWED]);
  assert.equal((await send('partition-manager')).error, NOT_ALLOWED);
  assert.deepEqual(partitions, []);
  const stats = await send('stats');
  assert.equal(stats.ok, true);
  assert.equal(stats.stats?.running, undefined);
});

test('partition-manager cuts off every other manager and heals when it ends', async () => {
  const { send, partitions } = faults({ allow: true });
  const r = await send('partition-manager', 5000);
  assert.equal(r.ok, true, r.error);
  assert.equal(r.until, clock.now() + 5000);
  assert.deepEqual(r.stats?.active, [{ fault: 'partition-manager', until: clock.now() + 5000 }]);
  assert.deepEqual(partitions, [['m2', 'm3']]);
  assert.match((await send('partition-manager')).error ?? '', /already in force/);
  clock.advance(5000);
  assert.deepEqual(partitions, [['m2', 'm3'], []]);
  assert.equal((await send('partition-manager')).ok, true, 'a new one may start');
});

test('kill-manager answers first and asks the host for a hard restart', async () => {
  const restarts: [boolean, number][] = [];
  const host = { restart: (hard: boolean, ms: number) => void restarts.push([hard, ms]) };
  const { send } = faults({ allow: true, host });
  const r = await send('kill-manager', 2500);
  assert.equal(r.ok, true, r.error);
  assert.deepEqual(restarts, [], 'nothing stops before the answer is out');
  clock.advance(1000);
  assert.deepEqual(restarts, [[true, 2500]]);
  await send('restart-manager', 100);
  clock.advance(1000);
  assert.deepEqual(restarts[1], [false, 100]);
});

test('an agent fault or a manager that cannot restart is refused with the reason', async () => {
  const { send } = faults({ allow: true }, []);
  assert.match((await send('kill-manager')).error ?? '', /not started in a way that can restart/);
  assert.match((await send('partition-manager')).error ?? '', /no other manager/);
  assert.match((await send('drop')).error ?? '', /agent fault/);
});
