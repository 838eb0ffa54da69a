// Staging agent releases beside the running one: verified before they land, refused with a clear reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSigningKey, type KeyPair } from '../../shared/identity.js';
import { signRelease, type SignedRelease } from '../../shared/ota/release.js';
import {
  StageError,
  releasesDir,
  removeUnusedReleases,
  stageRelease,
  verifyStaged,
} from '../../agent/ota/stage.js';
import { upgradeAgent } from '../../agent/ota/upgrade.js';
import type { OtaChild } from '../../agent/ota/ota-child.js';
import { FLEET_VERSION } from '../../shared/version.js';

const root = generateSigningKey();

function release(
  bytes: Buffer,
  over: Partial<SignedRelease['manifest']> = {},
  key: KeyPair = root,
): SignedRelease {
  return signRelease(
    {
      version: '1.1.0',
      nodeMin: '20.0.0',
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      createdAt: 0,
      ...over,
    },
    key.secretKey,
  );
}

async function dataDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'fleet-ota-stage-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const bundle = Buffer.from('console.log("agent 1.1.0");\n');

test('a signed release is staged under releases/<version> and verifies from disk', async (t) => {
  const dir = await dataDir(t);
  const r = release(bundle);
  const staged = await stageRelease({
    dataDir: dir,
    rootPub: root.publicKey,
    release: r,
    bundle: { bytes: bundle },
    runningVersion: '1.0.0',
  });
  assert.equal(staged.already, false);
  assert.equal(staged.dir, path.join(releasesDir(dir), '1.1.0'));
  assert.deepEqual((await fs.readdir(staged.dir)).sort(), ['fleet-agent.mjs', 'release.json']);
  const v = await verifyStaged(dir, '1.1.0', root.publicKey);
  assert.equal(v.bundle, path.join(staged.dir, 'fleet-agent.mjs'));
  assert.deepEqual(await fs.readFile(v.bundle), bundle);
  const again = await stageRelease({
    dataDir: dir,
    rootPub: root.publicKey,
    release: r,
    bundle: { bytes: bundle },
    runningVersion: '1.0.0',
  });
  assert.equal(again.already, true, 'staging the same release twice writes nothing');
});

test('a release is staged from a file as well', async (t) => {
  const dir = await dataDir(t);
  const file = path.join(dir, 'download.mjs');
  await fs.writeFile(file, bundle);
  await stageRelease({
    dataDir: dir,
    rootPub: root.publicKey,
    release: release(bundle),
    bundle: { file },
    runningVersion: '1.0.0',
  });
  await verifyStaged(dir, '1.1.0', root.publicKey);
});

test('staging refuses bad releases with the reason, and leaves nothing behind', async (t) => {
  const dir = await dataDir(t);
  const base = { dataDir: dir, rootPub: root.publicKey, runningVersion: '1.0.0' };
  const cases: [string, Parameters<typeof stageRelease>[0], RegExp][] = [
    [
      'signed by another key',
      { ...base, release: release(bundle, {}, generateSigningKey()), bundle: { bytes: bundle } },
      /signature does not match/,
    ],
    [
      'bytes that are not the signed ones',
      { ...base, release: release(bundle), bundle: { bytes: Buffer.from(bundle).fill(65, 0, 1) } },
      /sha256/,
    ],
    [
      'a shorter bundle',
      { ...base, release: release(bundle), bundle: { bytes: bundle.subarray(1) } },
      /bytes, the manifest says/,
    ],
    [
      'a longer bundle',
      { ...base, release: release(bundle), bundle: { bytes: Buffer.concat([bundle, bundle]) } },
      /larger than the signed/,
    ],
    [
      'a Node.js newer than this one',
      { ...base, release: release(bundle, { nodeMin: '99.0.0' }), bundle: { bytes: bundle } },
      /needs Node.js 99.0.0 or newer; this board has v/,
    ],
    [
      'an older version',
      { ...base, release: release(bundle, { version: '0.9.0' }), bundle: { bytes: bundle } },
      /older than the running 1.0.0 \(a downgrade must be asked for\)/,
    ],
    [
      'the running version',
      { ...base, release: release(bundle, { version: '1.0.0' }), bundle: { bytes: bundle } },
      /is the version running now/,
    ],
    ['not a release', { ...base, release: { hello: 1 }, bundle: { bytes: bundle } }, /malformed/],
  ];
  for (const [what, opts, why] of cases) {
    await assert.rejects(stageRelease(opts), (e: unknown) => {
      assert.ok(e instanceof StageError, `${what}: a StageError`);
      assert.match(e.message, why, what);
      return true;
    });
  }
  assert.deepEqual(await fs.readdir(releasesDir(dir)).catch(() => []), [], 'no partial release');
});

test('a downgrade is staged when asked for', async (t) => {
  const dir = await dataDir(t);
  const staged = await stageRelease({
    dataDir: dir,
    rootPub: root.publicKey,
    release: release(bundle, { version: '0.9.0' }),
    bundle: { bytes: bundle },
    runningVersion: '1.0.0',
    allowDowngrade: true,
  });
  assert.equal(staged.manifest.version, '0.9.0');
});

test('a staged bundle changed on disk no longer verifies', async (t) => {
  const dir = await dataDir(t);
  const staged = await stageRelease({
    dataDir: dir,
    rootPub: root.publicKey,
    release: release(bundle),
    bundle: { bytes: bundle },
    runningVersion: '1.0.0',
  });
  await fs.appendFile(path.join(staged.dir, 'fleet-agent.mjs'), '// tampered\n');
  await assert.rejects(verifyStaged(dir, '1.1.0', root.publicKey), /bytes, the manifest says/);
  await assert.rejects(verifyStaged(dir, '1.2.0', root.publicKey), /not staged/);
  const other = generateSigningKey();
  await assert.rejects(verifyStaged(dir, '1.1.0', other.publicKey), /signature/);
});

test('releases the state no longer names are removed, with interrupted stagings', async (t) => {
  const dir = await dataDir(t);
  for (const version of ['1.1.0', '1.2.0', '1.3.0'])
    await stageRelease({
      dataDir: dir,
      rootPub: root.publicKey,
      release: release(bundle, { version }),
      bundle: { bytes: bundle },
      runningVersion: '1.0.0',
    });
  await fs.mkdir(path.join(releasesDir(dir), '.staging-1.4.0-abc'));
  const gone = await removeUnusedReleases(dir, new Set(['1.2.0', '1.3.0']));
  assert.deepEqual(gone.sort(), ['.staging-1.4.0-abc', '1.1.0']);
  assert.deepEqual((await fs.readdir(releasesDir(dir))).sort(), ['1.2.0', '1.3.0']);
});

test('an upgrade order stages the release and asks the supervisor to switch; a refusal says why', async (t) => {
  const dir = await dataDir(t);
  const asked: string[] = [];
  const ota: OtaChild = {
    release: FLEET_VERSION,
    trial: false,
    reportHealthy: () => undefined,
    reportSelfCheckFailed: async () => undefined,
    requestSwitch: async (version) => {
      asked.push(version);
      return { ok: true };
    },
    state: () => ({ v: 1, current: 'factory' }),
  };
  const order = { dataDir: dir, rootPub: root.publicKey, bundle: { bytes: bundle } };
  assert.deepEqual(
    await upgradeAgent(ota, { ...order, release: release(bundle, { version: '99.0.0' }) }),
    {
      ok: true,
      version: '99.0.0',
    },
  );
  assert.deepEqual(asked, ['99.0.0']);
  const forged = await upgradeAgent(ota, {
    ...order,
    release: release(bundle, { version: '99.1.0' }, generateSigningKey()),
  });
  assert.equal(forged.ok, false);
  assert.deepEqual(asked, ['99.0.0'], 'no switch asked for a refused release');
  const alone = await upgradeAgent(undefined, { ...order, release: release(bundle) });
  assert.match(alone.ok ? '' : alone.reason, /--supervise/);
});
