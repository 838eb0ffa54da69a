// Certificates, join tokens and connection proofs: what verifies and what is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLOCK_SKEW_MS,
  fingerprint,
  generateNodeKeys,
  generateSigningKey,
  issueCertificate,
  makeConnectProof,
  makeJoinToken,
  parseJoinToken,
  verifyCertificate,
  verifyConnectProof,
  type Identity,
} from '../../shared/identity.js';

const now = 1_800_000_000_000;
const root = generateSigningKey();

function identity(role: 'worker' | 'admin' = 'worker', expiresAt = now + 1000_000): Identity {
  const keys = generateNodeKeys();
  const cert = issueCertificate(
    {
      id: 'node1',
      role,
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      issuedAt: now,
      expiresAt,
      serial: 's1',
    },
    root,
  );
  return { v: 1, id: 'node1', role, keys, cert, rootPub: root.publicKey, managers: [] };
}

test('a join token carries the root key fingerprint and parses back', () => {
  const token = makeJoinToken(root.publicKey);
  const parsed = parseJoinToken(token);
  assert.ok(parsed);
  assert.equal(parsed.fingerprint, fingerprint(root.publicKey));
  assert.equal(parseJoinToken('FLEET-1-nothex-abc'), null);
  assert.equal(parseJoinToken(''), null);
});

test('a certificate signed by the root verifies; a tampered or foreign one does not', () => {
  const id = identity();
  assert.equal(verifyCertificate(id.cert, root.publicKey, now).ok, true);
  const tampered = { ...id.cert, body: id.cert.body.replace('"worker"', '"admin"') };
  assert.deepEqual(verifyCertificate(tampered, root.publicKey, now), {
    ok: false,
    reason: 'bad certificate signature',
  });
  const other = generateSigningKey();
  assert.equal(verifyCertificate(id.cert, other.publicKey, now).ok, false);
});

test('an expired certificate is refused beyond the clock-skew allowance', () => {
  const id = identity('worker', now - 1);
  assert.equal(verifyCertificate(id.cert, root.publicKey, now).ok, true, 'within skew');
  const r = verifyCertificate(id.cert, root.publicKey, now + CLOCK_SKEW_MS + 10);
  assert.deepEqual(r, { ok: false, reason: 'certificate expired' });
});

test('a connect proof binds the client id and the key', () => {
  const id = identity();
  const proof = makeConnectProof(id, 'node1', now);
  assert.equal(verifyConnectProof(proof, 'node1', root.publicKey, now).ok, true);
  const wrongClient = verifyConnectProof(proof, 'node2', root.publicKey, now);
  assert.equal(wrongClient.ok, false);
  const stale = verifyConnectProof(proof, 'node1', root.publicKey, now + CLOCK_SKEW_MS + 1);
  assert.deepEqual(stale, { ok: false, reason: 'credentials too old' });
  assert.equal(verifyConnectProof('not json', 'node1', root.publicKey, now).ok, false);
  assert.equal(verifyConnectProof('{"cert":1}', 'node1', root.publicKey, now).ok, false);
});

test('a proof signed by another key than the certificate names is refused', () => {
  const id = identity();
  const thief = { ...id, keys: generateNodeKeys() };
  const proof = makeConnectProof(thief, 'node1', now);
  assert.deepEqual(verifyConnectProof(proof, 'node1', root.publicKey, now), {
    ok: false,
    reason: 'bad proof of key possession',
  });
});
