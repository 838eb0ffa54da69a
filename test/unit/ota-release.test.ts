// Signed agent release manifests: signature by the root key, shape checks, version order, Node.js requirement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSigningKey, issueCertificate } from '../../shared/identity.js';
import {
  compareVersions,
  nodeSatisfies,
  releaseSigningText,
  signRelease,
  verifyRelease,
  type ReleaseManifest,
} from '../../shared/ota/release.js';

const manifest: ReleaseManifest = {
  version: '1.2.3',
  nodeMin: '20.0.0',
  sha256: 'a'.repeat(64),
  size: 1000,
  createdAt: 1_700_000_000_000,
};

test('a release signed by the root key verifies; by another key, or altered, it does not', () => {
  const root = generateSigningKey();
  const signed = signRelease(manifest, root.secretKey);
  assert.deepEqual(verifyRelease(signed, root.publicKey), { ok: true, manifest });
  const other = generateSigningKey();
  const r = verifyRelease(signRelease(manifest, other.secretKey), root.publicKey);
  assert.equal(r.ok, false);
  const altered = { ...signed, manifest: { ...manifest, size: 1001 } };
  const r2 = verifyRelease(altered, root.publicKey);
  assert.equal(r2.ok, false, 'a manifest changed after signing');
});

test('the signed text does not depend on key order and cannot pass for a certificate', () => {
  const reordered = Object.fromEntries(Object.entries(manifest).reverse()) as ReleaseManifest;
  assert.equal(releaseSigningText(reordered), releaseSigningText(manifest));
  assert.ok(releaseSigningText(manifest).startsWith('fleet-release|v1|{'));
  const root = generateSigningKey();
  const cert = issueCertificate(
    {
      id: 'n1',
      role: 'worker',
      signPub: root.publicKey,
      boxPub: root.publicKey,
      issuedAt: 0,
      expiresAt: 1,
      serial: 's',
    },
    root,
  );
  const forged = { manifest, sig: cert.sig };
  assert.equal(verifyRelease(forged, root.publicKey).ok, false);
});

test('malformed manifests are refused with the field that is wrong', () => {
  const root = generateSigningKey();
  const cases: [unknown, RegExp][] = [
    [null, /malformed/],
    [{ manifest: { ...manifest, version: 'v1' }, sig: 'x' }, /version/],
    [{ manifest: { ...manifest, sha256: 'ABC' }, sig: 'x' }, /sha256/],
    [{ manifest: { ...manifest, size: -1 }, sig: 'x' }, /size/],
    [{ manifest }, /sig/],
  ];
  for (const [raw, why] of cases) {
    const r = verifyRelease(raw, root.publicKey);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, why);
  }
});

test('versions compare by semver precedence', () => {
  const ordered = [
    '0.9.9',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.10.0',
    '2.0.0',
  ];
  for (let i = 0; i < ordered.length; i++)
    for (let j = 0; j < ordered.length; j++)
      assert.equal(
        compareVersions(ordered[i] ?? '', ordered[j] ?? ''),
        Math.sign(i - j),
        `${ordered[i]} vs ${ordered[j]}`,
      );
  assert.equal(compareVersions('1.0.0+build.1', '1.0.0'), 0, 'build metadata is ignored');
  assert.throws(() => compareVersions('1.0', '1.0.0'), /not a semantic version/);
});

test("the Node.js requirement is checked against process.version's form", () => {
  assert.ok(nodeSatisfies('20.0.0', 'v20.11.1'));
  assert.ok(nodeSatisfies('20.11.1', 'v20.11.1'));
  assert.ok(!nodeSatisfies('22.0.0', 'v20.11.1'));
  assert.ok(!nodeSatisfies('20.0.0', 'not-a-version'));
});
