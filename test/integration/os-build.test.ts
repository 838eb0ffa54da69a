// `fleet os build`'s refusals: an unreachable mirror, an unsupported or unknown board, a token without a manager (the full builds are in test/os/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/cluster.js';
import { requireDocker } from '../helpers/docker.js';
import { fleetCli as fleet, osBuildMissing } from '../helpers/os-build.js';

const missing = osBuildMissing();
if (missing && process.env.CI === 'true') throw new Error(`in CI os build must run: ${missing}`);
// Outside CI a machine without mmdebstrap skips the build; in CI a missing tool fails it.
const skipBuild = missing ?? false;

let dir = '';

before(() => {
  dir = tempDir('os-build');
});

after(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test(
  'an unreachable mirror fails the root file system step and leaves nothing under the output name',
  { timeout: 120_000, skip: skipBuild },
  async () => {
    const out = path.join(dir, 'offline.img');
    const r = await fleet([
      ...['os', 'build', '--board', 'qemu-arm64', '--runtime', 'process', '--out', out],
      ...['--cache-dir', path.join(dir, 'empty-cache'), '--mirror', 'http://127.0.0.1:9/debian'],
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /making the root file system \(mmdebstrap\): mmdebstrap failed/);
    const left = (await fs.readdir(dir)).filter((n) => n.startsWith('offline.img'));
    assert.deepEqual(left, []);
    const cached = await fs.readdir(path.join(dir, 'empty-cache')).catch(() => []);
    assert.deepEqual(
      cached.filter((n) => n.endsWith('.partial')),
      [],
    );
  },
);

test('os build refuses an unsupported board with its note, an unknown board, and a token without a manager', async () => {
  const out = path.join(dir, 'refused.img');
  const rpi5 = await fleet(['os', 'build', '--board', 'rpi5', '--out', out]);
  assert.equal(rpi5.code, 2);
  assert.match(rpi5.stderr, /board rpi5 cannot be built: Debian bookworm's linux-image-arm64/);
  const unknown = await fleet(['os', 'build', '--board', 'pi-zero', '--out', out]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /unknown board "pi-zero"; known boards: qemu-arm64, rpi3, rpi4, rpi5/,
  );
  const tokenOnly = await fleet(['os', 'build', '--board', 'rpi4', '--out', out, '--token', 't']);
  assert.equal(tokenOnly.code, 2);
  assert.match(tokenOnly.stderr, /--manager and --token go together/);
  const managerOnly = await fleet([
    ...['os', 'build', '--board', 'rpi4', '--out', out, '--manager', 'm:1'],
  ]);
  assert.match(managerOnly.stderr, /--manager and --token go together/);
  const processPreload = await fleet([
    ...['os', 'build', '--board', 'rpi4', '--out', out, '--runtime', 'process'],
    ...['--preload', 'fleet-test/busybox:3'],
  ]);
  assert.equal(processPreload.code, 2);
  assert.match(processPreload.stderr, /--preload needs --runtime docker/);
  const bootSize = await fleet([
    ...['os', 'build', '--board', 'rpi4', '--out', out, '--boot-size', '0'],
  ]);
  assert.equal(bootSize.code, 2);
  assert.match(bootSize.stderr, /--boot-size is a whole number of MiB/);
  await assert.rejects(fs.stat(out), { code: 'ENOENT' });
});

test('os build refuses a preloaded image the engine does not have before building anything', async (t) => {
  if (!(await requireDocker(t))) return;
  const out = path.join(dir, 'no-image.img');
  const r = await fleet([
    ...['os', 'build', '--board', 'qemu-arm64', '--out', out],
    ...['--cache-dir', path.join(dir, 'unused-cache'), '--preload', 'fleet-test/preload-missing:0'],
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /the image fleet-test\/preload-missing:0 is not in the local Docker engine/,
  );
  assert.doesNotMatch(r.stderr, /root file system/);
  await assert.rejects(fs.stat(path.join(dir, 'unused-cache')), { code: 'ENOENT' });
  await assert.rejects(fs.stat(out), { code: 'ENOENT' });
});
