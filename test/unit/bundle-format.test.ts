// Offline bundle format: signing text, the board's checks with their reasons, and the container's hash checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fingerprint, generateSigningKey, type KeyPair } from '../../shared/identity.js';
import {
  blobEntry,
  bundleTaskId,
  bundleTasks,
  canonicalJson,
  signBundle,
  type BundleManifest,
} from '../../shared/bundle/manifest.js';
import { checkBundle, type BoardFacts } from '../../shared/bundle/verify.js';
import {
  copyEntries,
  readBundleHead,
  writeBundleFile,
  type EntrySource,
} from '../../shared/bundle/container.js';
import { serviceSpecSchema } from '../../shared/spec.js';

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const BLOB = Buffer.from('layer bytes');

function manifest(root: KeyPair, over: Partial<BundleManifest> = {}): BundleManifest {
  const spec = serviceSpecSchema.parse({
    name: 'web',
    replicas: 2,
    task: { image: 'busybox', command: ['sleep', '1000'] },
  });
  return {
    format: 1,
    id: 'abcdef0123',
    cluster: fingerprint(root.publicKey),
    sequence: 5,
    createdAt: NOW - DAY,
    expiresAt: NOW + DAY,
    targets: { nodes: ['board1'], labels: {} },
    services: [{ id: 'svc1', specVersion: 3, spec }],
    images: [],
    entries: [{ name: blobEntry(`sha256:${sha(BLOB)}`), size: BLOB.length, sha256: sha(BLOB) }],
    ...over,
  };
}

const board = (root: KeyPair, over: Partial<BoardFacts> = {}): BoardFacts => ({
  rootPub: root.publicKey,
  nodeId: 'n-1',
  nodeName: 'board1',
  labels: { site: 'north' },
  now: NOW,
  ...over,
});

test('a bundle signed by the board cluster, for it, unexpired and newer is accepted', () => {
  const root = generateSigningKey();
  const r = checkBundle(signBundle(manifest(root), root.secretKey), board(root));
  assert.equal(r.ok, true);
});

test('each refusal says why', () => {
  const root = generateSigningKey();
  const other = generateSigningKey();
  const reason = (raw: unknown, b = board(root)): string => {
    const r = checkBundle(raw, b);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.reason;
  };
  const foreign = signBundle(manifest(other), other.secretKey);
  assert.match(
    reason(foreign),
    new RegExp(
      `signed by cluster ${fingerprint(other.publicKey)}, this board belongs to cluster ${fingerprint(root.publicKey)}`,
    ),
  );
  const forged = signBundle(manifest(root), other.secretKey);
  assert.match(reason(forged), /signature does not match/);
  const changed = signBundle(manifest(root), root.secretKey);
  changed.manifest.sequence = 99;
  assert.match(reason(changed), /signature does not match/);
  const expired = signBundle(manifest(root, { expiresAt: NOW - 60_000 }), root.secretKey);
  assert.match(reason(expired), /expired at 2027-01-15T07:59:00.000Z/);
  const elsewhere = signBundle(
    manifest(root, { targets: { nodes: ['board2'], labels: { site: 'south' } } }),
    root.secretKey,
  );
  assert.match(
    reason(elsewhere),
    /meant for nodes board2 or labels site=south, this board is n-1 \(board1\) with labels site=north/,
  );
  const signed = signBundle(manifest(root), root.secretKey);
  assert.match(
    reason(signed, board(root, { applied: { id: 'zzzzzzzz', sequence: 7 } })),
    /bundle 5 is older than the bundle 7 already applied/,
  );
  assert.match(
    reason(signed, board(root, { applied: { id: 'abcdef0123', sequence: 5 } })),
    /already applied/,
  );
  assert.match(reason({ manifest: { format: 2 } }), /malformed/);
});

test('targets pick boards by id, name or every label; none means every board', () => {
  const root = generateSigningKey();
  const ok = (targets: BundleManifest['targets']): boolean =>
    checkBundle(signBundle(manifest(root, { targets }), root.secretKey), board(root)).ok;
  assert.equal(ok({ nodes: [], labels: {} }), true);
  assert.equal(ok({ nodes: ['n-1'], labels: {} }), true);
  assert.equal(ok({ nodes: [], labels: { site: 'north' } }), true);
  assert.equal(ok({ nodes: [], labels: { site: 'north', rack: '2' } }), false);
});

test('the signing text is canonical: key order does not change it', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: null }] }), '{"a":[{"c":null,"d":2}],"b":1}');
  assert.equal(canonicalJson({ a: undefined, b: 'x' }), '{"b":"x"}');
});

test('task ids are stable per node, service, spec version and slot, whatever the bundle', () => {
  const root = generateSigningKey();
  const m = manifest(root);
  const tasks = bundleTasks(m, 'n-1');
  assert.deepEqual(
    tasks.map((t) => t.slot),
    [1, 2],
  );
  assert.equal(tasks[0]?.id, bundleTaskId('n-1', 'svc1', 3, 1));
  assert.deepEqual(bundleTasks({ ...m, id: 'other0123' }, 'n-1'), tasks);
  assert.notEqual(bundleTaskId('n-2', 'svc1', 3, 1), tasks[0]?.id);
  assert.notEqual(bundleTaskId('n-1', 'svc1', 4, 1), tasks[0]?.id);
  assert.ok((tasks[0]?.id.length ?? 0) <= 64);
});

test('the container round-trips; a changed byte in an entry or a cut file is caught', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-bundle-unit-'));
  try {
    const root = generateSigningKey();
    const signed = signBundle(manifest(root), root.secretKey);
    const entry = signed.manifest.entries[0];
    assert.ok(entry);
    const sources = new Map<string, EntrySource>([
      [
        entry.name,
        async function* () {
          yield BLOB;
        },
      ],
    ]);
    const file = path.join(dir, 'fleet-bundle-1.fleet');
    await writeBundleFile(file, signed, sources);
    const opened = await readBundleHead(file);
    assert.deepEqual(opened.raw, JSON.parse(JSON.stringify(signed)));
    const out = path.join(dir, 'out');
    await copyEntries(file, opened, signed.manifest.entries, () => out);
    assert.deepEqual(readFileSync(out), BLOB);

    const bytes = readFileSync(file);
    const last = bytes.length - 1;
    bytes[last] = (bytes[last] ?? 0) ^ 1;
    writeFileSync(file, bytes);
    await assert.rejects(
      copyEntries(file, await readBundleHead(file), signed.manifest.entries, () => out),
      new RegExp(`entry blobs/sha256:${entry.sha256} does not match its hash`),
    );
    writeFileSync(file, bytes.subarray(0, last));
    await assert.rejects(
      copyEntries(file, await readBundleHead(file), signed.manifest.entries, () => out),
      /bytes of entries, the manifest lists/,
    );
    writeFileSync(file, 'hello');
    await assert.rejects(readBundleHead(file), /not a fleet bundle/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
