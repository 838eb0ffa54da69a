// A blob server's proof cache: a cluster member's proof passes once verified, until it is too old; others never pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../shared/clock.js';
import {
  CLOCK_SKEW_MS,
  generateNodeKeys,
  generateSigningKey,
  issueCertificate,
  makeConnectProof,
  type Identity,
} from '../../shared/identity.js';
import { ProofCache } from '../../agent/images/proof-cache.js';
import { PEER_PROOF_SUBJECT } from '../../agent/images/peer-source.js';

function member(root: ReturnType<typeof generateSigningKey>, now: number): Identity {
  const keys = generateNodeKeys();
  const body = {
    id: 'n1',
    role: 'worker' as const,
    signPub: keys.sign.publicKey,
    boxPub: keys.box.publicKey,
    issuedAt: now - 1000,
    expiresAt: now + 24 * 3600_000,
    serial: 's1',
  };
  const cert = issueCertificate(body, root);
  return { v: 1, id: 'n1', role: 'worker', keys, cert, rootPub: root.publicKey, managers: [] };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('a member proof passes, again from memory, and not once it is older than the skew allowed', () => {
  const clock = new FakeClock(1_000_000);
  const root = generateSigningKey();
  const cache = new ProofCache(root.publicKey, clock);
  const proof = b64(makeConnectProof(member(root, clock.now()), PEER_PROOF_SUBJECT, clock.now()));
  assert.equal(cache.check(proof), null);
  clock.advance(60_000);
  assert.equal(cache.check(proof), null, 'a minute later, remembered');
  clock.advance(CLOCK_SKEW_MS);
  assert.equal(cache.check(proof), 'credentials too old');
  assert.equal(cache.check(proof), 'credentials too old', 'and not remembered as good any more');
});

test('proofs of another cluster, for another purpose, or garbled are refused every time', () => {
  const clock = new FakeClock(1_000_000);
  const root = generateSigningKey();
  const other = generateSigningKey();
  const cache = new ProofCache(root.publicKey, clock);
  const stranger = b64(
    makeConnectProof(member(other, clock.now()), PEER_PROOF_SUBJECT, clock.now()),
  );
  const wrongPurpose = b64(makeConnectProof(member(root, clock.now()), 'node-1', clock.now()));
  for (let i = 0; i < 2; i++) {
    assert.match(cache.check(stranger) ?? '', /signature|root|certificate/i);
    assert.equal(cache.check(wrongPurpose), 'bad proof of key possession');
    assert.equal(cache.check(b64('{}')), 'credentials have the wrong shape');
    assert.equal(cache.check('not base64 json'), 'credentials are not JSON');
  }
});
