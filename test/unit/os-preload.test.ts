// The pure parts of preloaded images: safe file names, the index's schema, the space they need, mtools' numbers, the board's check of a tar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  formatPreloadIndex,
  parsePreloadIndex,
  preloadFileName,
  type PreloadEntry,
} from '../../shared/preload-index.js';
import { parseBootSpace } from '../../firmware-images/boot-partition.js';
import { MIB } from '../../firmware-images/layout.js';
import {
  checkFatFileSizes,
  noRoomMessage,
  preloadBytesNeeded,
  preloadFit,
} from '../../firmware-images/preload.js';
import { verify } from '../../agent/runtime/docker/preload.js';

const SHA = 'a'.repeat(64);
const entry = (over: Partial<PreloadEntry> = {}): PreloadEntry => ({
  ref: 'fleet-test/busybox:3',
  file: 'fleet-test_busybox_3.tar',
  size: 10,
  sha256: SHA,
  id: 'sha256:' + 'b'.repeat(64),
  arch: 'arm64',
  ...over,
});

test('an image reference becomes a file name FAT and every laptop accept', () => {
  assert.equal(preloadFileName('fleet-test/busybox:3'), 'fleet-test_busybox_3.tar');
  assert.equal(preloadFileName('ghcr.io/acme/web:1.2'), 'ghcr.io_acme_web_1.2.tar');
  assert.equal(preloadFileName('localhost:5000/a//b:c'), 'localhost_5000_a_b_c.tar');
  assert.equal(
    preloadFileName(`web@sha256:${'0123456789ab'.repeat(5)}abcd`),
    'web_0123456789ab.tar',
  );
  assert.equal(preloadFileName('::/'), 'image.tar');
  assert.equal(preloadFileName('.hidden/x'), 'hidden_x.tar');
  assert.ok(preloadFileName(`r/${'x'.repeat(300)}`).length <= 104);
  // FAT compares names without case: a clash gets a number.
  const taken = new Set(['web_1.tar', 'web_1-2.tar']);
  assert.equal(preloadFileName('WEB:1', taken), 'WEB_1-3.tar');
  for (const ref of ['a/b:c', 'ghcr.io/x/y:1', 'weird name!']) {
    assert.doesNotThrow(() =>
      parsePreloadIndex(formatPreloadIndex([entry({ ref, file: preloadFileName(ref) })])),
    );
  }
});

test('the index round-trips and a mistake names the entry and field', () => {
  const text = formatPreloadIndex([entry(), entry({ ref: 'b:1', file: 'b_1.tar' })]);
  const index = parsePreloadIndex(text);
  assert.equal(index.version, 1);
  assert.deepEqual(
    index.images.map((e) => e.ref),
    ['fleet-test/busybox:3', 'b:1'],
  );
  const bad = (images: unknown[], version = 1): string => JSON.stringify({ version, images });
  assert.throws(() => parsePreloadIndex('{'), /not JSON/);
  assert.throws(() => parsePreloadIndex(bad([], 2)), /^Error: version:/);
  assert.throws(
    () => parsePreloadIndex(bad([entry({ sha256: 'xyz' })])),
    /images\.0\.sha256: a sha256/,
  );
  assert.throws(
    () => parsePreloadIndex(bad([entry(), entry({ file: '../etc/passwd.tar' })])),
    /images\.1\.file: a plain NAME\.tar/,
  );
  assert.throws(() => parsePreloadIndex(bad([entry({ size: -1 })])), /images\.0\.size/);
});

test('the space preload/ needs: every file rounded up to a cluster, the index and the folder', () => {
  assert.equal(preloadBytesNeeded([], 100, 512), 512 + 512);
  // 1000 bytes take two 512-byte clusters, 1 byte one, the index one, the folder's entries 2.
  assert.equal(preloadBytesNeeded([1000, 1], 100, 512), 2 * 512 + 512 + 512 + 2 * 512);
  assert.equal(preloadBytesNeeded([3 * MIB + 1], 300, 4096), 3 * MIB + 4096 + 4096 + 4096);
  const fits = preloadFit(10 * MIB, 12 * MIB, 0);
  assert.deepEqual(fits, {
    fits: true,
    neededBytes: 10 * MIB,
    availableBytes: 12 * MIB,
    besideOld: true,
  });
  // An older preload/ is counted as free space: it is replaced, not kept.
  const replacing = preloadFit(10 * MIB, 4 * MIB, 8 * MIB);
  assert.equal(replacing.fits, true);
  assert.equal(replacing.besideOld, false);
  const tooBig = preloadFit(30 * MIB, 4 * MIB, 1.5 * MIB);
  assert.equal(tooBig.fits, false);
  assert.equal(
    noRoomMessage(tooBig),
    'the boot partition has 5.5 MiB free; the preloaded images need 30.0 MiB; build the image ' +
      'with --preload (which sizes the boot partition to fit) or use a larger --boot-size',
  );
});

test('a tar of 4 GiB or more is refused: FAT keeps sizes in 32 bits', () => {
  assert.doesNotThrow(() => checkFatFileSizes([entry({ size: 2 ** 32 - 1 })]));
  assert.throws(
    () => checkFatFileSizes([entry(), entry({ ref: 'big:1', size: 2 ** 32 })]),
    /big:1 is 4096\.0 MiB saved; a file on the FAT boot partition is at most 4 GiB/,
  );
});

test("the boot partition's free space and cluster size come from mdir's and minfo's output", () => {
  const minfo = 'bootsector information\nsector size: 512 bytes\ncluster size: 8 sectors\n';
  const mdir =
    ' Volume in drive : is FLEETBOOT\n        3 files     3 bytes\n' +
    '                         41 281 024 bytes free\n';
  assert.deepEqual(parseBootSpace(minfo, mdir), { freeBytes: 41_281_024, clusterBytes: 4096 });
  assert.throws(() => parseBootSpace('', mdir), /unexpected mtools output/);
});

test('the board checks a tar against the index: size first, then sha256', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-preload-verify-'));
  try {
    const file = path.join(dir, 'x.tar');
    const body = Buffer.from('a tar, more or less\n'.repeat(100));
    await fs.writeFile(file, body);
    const good = entry({
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
    assert.equal(await verify(file, good), null);
    assert.match((await verify(path.join(dir, 'none.tar'), good)) ?? '', /^is missing$/);
    await fs.writeFile(file, body.subarray(0, 100));
    assert.match(
      (await verify(file, good)) ?? '',
      /is truncated or corrupt: 100 bytes, index.json says 2000/,
    );
    const flipped = Buffer.from(body);
    flipped[500] = (flipped[500] ?? 0) ^ 0xff;
    await fs.writeFile(file, flipped);
    assert.match(
      (await verify(file, good)) ?? '',
      /^is corrupt: sha256 [0-9a-f]{12}…, index.json says/,
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
