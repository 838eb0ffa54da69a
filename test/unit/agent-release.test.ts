// Agent releases: the signed manifest's canonical text, the bundle's version line, and the manager's release methods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { params } from '../../shared/api.js';
import { isFleetError } from '../../shared/errors.js';
import { generateSigningKey } from '../../shared/identity.js';
import { newDataKey } from '../../shared/sealing.js';
import {
  canonicalManifest,
  compareVersions,
  readBundleLine,
  signManifest,
  verifyManifest,
  type ReleaseManifest,
} from '../../shared/ota/release-record.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { newCluster } from '../../manager/bootstrap/cluster.js';
import { Store } from '../../manager/store/store.js';
import { nodeRecord } from '../helpers/records.js';

const SHA = 'ab'.repeat(32);
const manifest: ReleaseManifest = {
  version: '0.2.0',
  nodeMin: '20.0.0',
  sha256: SHA,
  size: 1234,
  createdAt: 1_700_000_000_000,
};

test('the signed text is a fixed prefix and the five manifest fields in sorted key order, whatever else the object holds', () => {
  const shuffled = { size: 1234, extra: 'x', createdAt: 1_700_000_000_000 };
  const text = canonicalManifest({ ...shuffled, ...manifest });
  assert.equal(
    text,
    `fleet-release|v1|{"createdAt":1700000000000,"nodeMin":"20.0.0","sha256":"${SHA}","size":1234,"version":"0.2.0"}`,
  );
});

test('a manifest signed with the root key verifies; a changed field or another key does not', () => {
  const root = generateSigningKey();
  const sig = signManifest(manifest, root.secretKey);
  assert.equal(verifyManifest(manifest, sig, root.publicKey), true);
  assert.equal(verifyManifest({ ...manifest, version: '0.2.1' }, sig, root.publicKey), false);
  assert.equal(verifyManifest({ ...manifest, size: 1235 }, sig, root.publicKey), false);
  assert.equal(verifyManifest({ ...manifest, nodeMin: '18.0.0' }, sig, root.publicKey), false);
  assert.equal(verifyManifest(manifest, sig, generateSigningKey().publicKey), false);
});

test("the bundle's version line is read from its head, with or without a protocol", () => {
  const bundle = (lines: string[]) => Buffer.from(lines.join('\n') + '\n');
  assert.deepEqual(
    readBundleLine(bundle(['#!/usr/bin/env -S node', '// fleet-agent 0.3.1 protocol 2', 'x'])),
    { version: '0.3.1', protocolVersion: 2 },
  );
  assert.deepEqual(readBundleLine(bundle(['// fleet-agent 1.0.0-rc.1'])), {
    version: '1.0.0-rc.1',
  });
  assert.equal(readBundleLine(bundle(['#!/usr/bin/env node', 'console.log(1)'])), null);
  assert.equal(readBundleLine(bundle(['// fleet-agent latest'])), null, 'not a version');
  const late = bundle(['#!/usr/bin/env node', 'x'.repeat(5000), '// fleet-agent 0.1.0']);
  assert.equal(readBundleLine(late), null, 'past the head');
});

test('versions order by their numbers; a suffixed one comes before its release', () => {
  const sorted = ['0.10.0', '0.2.0', '1.0.0', '1.0.0-rc.1', '0.2.0-beta'].sort(compareVersions);
  assert.deepEqual(sorted, ['0.2.0-beta', '0.2.0', '0.10.0', '1.0.0-rc.1', '1.0.0']);
});

/** A store with a cluster and one node, the handler context, and the blobs the manager holds. */
async function withStore(
  fn: (ctx: HandlerContext, store: Store, blobs: Set<string>) => void,
): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-release-unit-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    store.apply({ commands: [{ type: 'cluster.init', cluster: newCluster(1) }] });
    store.apply({ commands: [{ type: 'node.put', node: nodeRecord('n1', { name: 'pi-1' }) }] });
    const blobs = new Set<string>();
    fn({ store, now: 5000, managerId: 'm1', dataKey: newDataKey(), blobs }, store, blobs);
  } finally {
    store.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const create = (ctx: HandlerContext, p: object) =>
  handlers['release.create'](
    params['release.create'].parse({ version: '0.2.0', nodeMin: '20.0.0', size: 1234, ...p }),
    ctx,
  );

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return isFleetError(e) ? `${e.code}: ${e.message}` : String(e);
  }
  return 'no error';
};

test('release.create signs the manifest with the root key once the bundle is on this manager', async () => {
  await withStore((ctx, store, blobs) => {
    assert.match(
      code(() => create(ctx, { sha256: SHA })),
      /^unavailable: manager m1 does not hold/,
    );
    blobs.add(`sha256:${SHA}`);
    const r = create(ctx, { sha256: SHA, protocolVersion: 1 });
    assert.equal(r.result.created, true);
    store.apply({ commands: r.commands ?? [] });
    const [rec] = [...store.releases()];
    assert.ok(rec);
    assert.deepEqual(rec.manifest, { ...manifest, createdAt: 5000 });
    const rootPub = store.cluster()?.rootPub ?? '';
    assert.equal(verifyManifest(rec.manifest, rec.signature, rootPub), true);
    assert.equal(rec.protocolVersion, 1);
    const again = create(ctx, { sha256: SHA });
    assert.equal(again.result.created, false, 'the same bytes again: recorded already');
    assert.equal(again.commands, undefined);
    assert.match(
      code(() => create(ctx, { sha256: 'cd'.repeat(32) })),
      /^conflict: agent release 0\.2\.0 is already recorded with other content/,
    );
  });
});

test('release.rm is refused while a node runs the version, unless forced', async () => {
  await withStore((ctx, store, blobs) => {
    blobs.add(`sha256:${SHA}`);
    store.apply({ commands: create(ctx, { sha256: SHA }).commands ?? [] });
    const node = store.node('n1');
    assert.ok(node);
    store.apply({ commands: [{ type: 'node.put', node: { ...node, agentVersion: '0.2.0' } }] });
    const [listed] = handlers['release.ls']({}, ctx).result;
    assert.deepEqual(listed?.nodes, ['pi-1']);
    const rm = (force: boolean) =>
      handlers['release.rm'](params['release.rm'].parse({ version: '0.2.0', force }), ctx);
    assert.match(
      code(() => rm(false)),
      /^conflict: agent release 0\.2\.0 runs on node pi-1/,
    );
    store.apply({ commands: rm(true).commands ?? [] });
    assert.deepEqual([...store.releases()], []);
    assert.match(
      code(() => rm(true)),
      /^not_found: /,
    );
  });
});
