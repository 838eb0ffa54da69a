// test-lane: own-addresses
// Fault orders: what verifyChaos accepts and refuses, what a target remembers, the skewable clock and the link faults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateNodeKeys,
  generateSigningKey,
  issueCertificate,
  signText,
  type Identity,
  type KeyPair,
} from '../../shared/identity.js';
import { signChaos, verifyChaos } from '../../shared/chaos.js';
import { ChaosGuard, REPLAY_WINDOW_MS } from '../../shared/chaos-guard.js';
import { FakeClock } from '../../shared/clock.js';
import { SkewableClock } from '../../agent/chaos/skew-clock.js';
import { LinkFaults } from '../../agent/chaos/link-faults.js';

const now = 1_800_000_000_000;
const root = generateSigningKey();

function identity(role: 'worker' | 'admin', signer: KeyPair = root): Identity {
  const keys = generateNodeKeys();
  const cert = issueCertificate(
    {
      id: role === 'admin' ? 'admin1' : 'node1',
      role,
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      issuedAt: now - 1000,
      expiresAt: now + 86_400_000,
      serial: 's1',
    },
    signer,
  );
  const id = role === 'admin' ? 'admin1' : 'node1';
  return { v: 1, id, role, keys, cert, rootPub: root.publicKey, managers: [] };
}

const admin = identity('admin');
const order = { target: 'node1', fault: 'partition' as const, durationMs: 5000 };

test('an order signed by an admin of the cluster is accepted by its target', () => {
  const check = verifyChaos(signChaos(admin, order, now), root.publicKey, 'node1', now + 10);
  assert.equal(check.ok, true);
  if (check.ok) assert.equal(check.order.fault, 'partition');
});

test('an order whose text was changed after signing is refused', () => {
  const signed = signChaos(admin, order, now);
  const forged = {
    ...signed,
    order: signed.order.replace('"durationMs":5000', '"durationMs":9000'),
  };
  const check = verifyChaos(forged, root.publicKey, 'node1', now);
  assert.deepEqual(check, { ok: false, reason: 'bad order signature' });
});

test('an order signed by a key other than the certificate names is refused', () => {
  const signed = signChaos(admin, order, now);
  const other = generateSigningKey();
  const check = verifyChaos(
    { ...signed, sig: signText(signed.order, other.secretKey) },
    root.publicKey,
    'node1',
    now,
  );
  assert.deepEqual(check, { ok: false, reason: 'bad order signature' });
});

test('a worker certificate cannot order faults', () => {
  const worker = identity('worker');
  const check = verifyChaos(signChaos(worker, order, now), root.publicKey, 'node1', now);
  assert.deepEqual(check, { ok: false, reason: 'only an admin may order faults' });
});

test('an admin of another cluster cannot order faults', () => {
  const stranger = identity('admin', generateSigningKey());
  const check = verifyChaos(signChaos(stranger, order, now), root.publicKey, 'node1', now);
  assert.equal(check.ok, false);
});

test('an order for another node is refused by this one', () => {
  const check = verifyChaos(signChaos(admin, order, now), root.publicKey, 'node2', now);
  assert.deepEqual(check, { ok: false, reason: 'order is for node1' });
});

test('a stale order and one from the future are refused', () => {
  const signed = signChaos(admin, order, now);
  const late = verifyChaos(signed, root.publicKey, 'node1', now + 10 * 60_000);
  const early = verifyChaos(signed, root.publicKey, 'node1', now - 10 * 60_000);
  assert.deepEqual(late, { ok: false, reason: 'order is too old or from the future' });
  assert.deepEqual(early, late);
});

test('text that is not an order is refused with the reason', () => {
  const bad = verifyChaos({ order: '{nope', sig: 'x' }, root.publicKey, 'node1', now);
  assert.deepEqual(bad, { ok: false, reason: 'order is not JSON' });
  const shape = verifyChaos({ order: '{"v":2}', sig: 'x' }, root.publicKey, 'node1', now);
  assert.deepEqual(shape, { ok: false, reason: 'order has the wrong shape' });
});

test('a replayed order id is refused for an hour, then forgotten', () => {
  const guard = new ChaosGuard();
  assert.equal(guard.admit('order-0001', 'stats', now), null);
  assert.match(guard.admit('order-0001', 'stats', now + 1000) ?? '', /already carried out/);
  assert.equal(guard.admit('order-0001', 'stats', now + REPLAY_WINDOW_MS + 1001), null);
});

test('a second fault of a kind in force is refused until the first ends', () => {
  const guard = new ChaosGuard();
  assert.equal(guard.admit('order-0001', 'drop', now), null);
  guard.begin('drop', now + 5000);
  assert.match(guard.admit('order-0002', 'drop', now) ?? '', /already in force/);
  assert.equal(guard.admit('order-0003', 'delay', now), null);
  assert.deepEqual(guard.list(), [{ fault: 'drop', until: now + 5000 }]);
  guard.end('drop');
  assert.equal(guard.admit('order-0004', 'drop', now), null);
});

test('a skewed clock shifts wall time only; its timers keep their length', () => {
  const base = new FakeClock(now);
  const clock = new SkewableClock(base);
  clock.skew(-120_000);
  assert.equal(clock.now(), now - 120_000);
  let fired = 0;
  clock.setTimeout(() => fired++, 1000);
  base.advance(999);
  assert.equal(fired, 0);
  base.advance(1);
  assert.equal(fired, 1);
  clock.skew(0);
  assert.equal(clock.now(), base.now());
});

test('link faults drop, delay and double outgoing messages but never fault answers', () => {
  const clock = new FakeClock(now);
  const faults = new LinkFaults(clock, () => 0.5);
  const sent: string[] = [];
  const out = (topic: string): void => faults.outgoing(topic, () => sent.push(topic));
  faults.set('drop', { rate: 1, delayMs: 0 });
  out('fleet/v1/nodes/n/hb');
  out('fleet/v1/nodes/n/chaos-result');
  assert.deepEqual(sent, ['fleet/v1/nodes/n/chaos-result']);
  faults.set('drop', null);
  faults.set('delay', { rate: 0.9, delayMs: 2000 });
  faults.set('duplicate', { rate: 0.9, delayMs: 0 });
  out('fleet/v1/nodes/n/status');
  assert.equal(sent.length, 1);
  clock.advance(2000);
  assert.deepEqual(sent.slice(1), ['fleet/v1/nodes/n/status', 'fleet/v1/nodes/n/status']);
  faults.set('delay', { rate: 0.1, delayMs: 2000 });
  faults.set('duplicate', { rate: 0.1, delayMs: 0 });
  out('fleet/v1/nodes/n/hb');
  assert.equal(sent.length, 4);
});
