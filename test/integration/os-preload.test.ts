// `fleet os configure --preload` and the build's preload step against the real Docker engine and mtools: contents, sha256, and the refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { assembleImage, type AssembledImage } from '../../firmware-images/assemble.js';
import { bootSpace } from '../../firmware-images/boot-partition.js';
import { SECTOR } from '../../firmware-images/layout.js';
import { stagePreload } from '../../firmware-images/preload.js';
import { withSavedImages } from '../../manager/cli/os/preload.js';
import { parsePreloadIndex } from '../../shared/preload-index.js';
import { tempDir } from '../helpers/cluster.js';
import { fleetCli, tool, type CliRun } from '../helpers/os-build.js';
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../helpers/docker.js';

const run = promisify(execFile);

let dir = '';

const fleet = (args: string[]): Promise<CliRun> => fleetCli(args);

/** mtools' drive for the boot partition of an assembled image. */
const drive = (img: AssembledImage): string => `${img.path}@@${img.layout.boot.start * SECTOR}`;

/** A small board image: a few boot files, a tiny root, the smallest FAT32 boot partition. */
async function smallImage(
  name: string,
  boot = path.join(dir, `boot-${name}`),
): Promise<AssembledImage> {
  const root = path.join(dir, `root-${name}`);
  await fs.mkdir(boot, { recursive: true });
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.writeFile(path.join(boot, 'cmdline.txt'), 'console=ttyAMA0 root=LABEL=fleetroot rw\n');
  await fs.writeFile(path.join(root, 'etc', 'hostname'), 'fleet-board\n');
  return assembleImage({
    bootDir: boot,
    rootDir: root,
    out: path.join(dir, `${name}.img`),
    minBootMiB: 36,
  });
}

/** The files under ::/preload, bare names. */
async function preloadFiles(img: AssembledImage): Promise<string[]> {
  const listing = await tool('mdir', ['-b', '-s', '-i', drive(img), '::/']);
  return listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('::/preload'))
    .sort();
}

before(async () => {
  dir = tempDir('os-preload');
});

after(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test('os configure --preload writes the saved image and an index whose sha256 matches it', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const img = await smallImage('configured');
  const r = await fleet(['os', 'configure', img.path, '--preload', TEST_IMAGE]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^preload fleet-test\/busybox:3 \(\w+\): [\d.]+ MiB as preload\/fleet-test_busybox_3\.tar$/m,
  );
  assert.match(r.stdout, /Wrote 1 preloaded image to .*configured\.img/);
  const { stdout: arch } = await run('docker', [
    'image',
    'inspect',
    '-f',
    '{{.Architecture}}',
    TEST_IMAGE,
  ]);
  if (arch.trim() !== 'arm64')
    assert.match(r.stderr, /warning: fleet-test\/busybox:3 is for \w+, the board is arm64/);
  assert.deepEqual(await preloadFiles(img), [
    '::/preload/',
    '::/preload/fleet-test_busybox_3.tar',
    '::/preload/index.json',
  ]);
  const index = parsePreloadIndex(await tool('mtype', ['-i', drive(img), '::/preload/index.json']));
  assert.equal(index.images.length, 1);
  const e = index.images[0]!;
  assert.equal(e.ref, TEST_IMAGE);
  const { stdout: id } = await run('docker', ['image', 'inspect', '-f', '{{.Id}}', TEST_IMAGE]);
  assert.equal(e.id, id.trim());
  const local = path.join(dir, 'copied.tar');
  await tool('mcopy', ['-i', drive(img), `::/preload/${e.file}`, local]);
  const tar = await fs.readFile(local);
  assert.equal(tar.length, e.size);
  assert.equal(createHash('sha256').update(tar).digest('hex'), e.sha256);
  const shown = await fleet(['os', 'inspect', img.path]);
  assert.match(
    shown.stdout,
    /^Preloaded images:\n {2}fleet-test\/busybox:3 {2}[\d.]+ MiB {2}\w+ {2}sha256:[0-9a-f]{12}$/m,
  );
  // No fleet.json: only --preload was given. A second run replaces the folder, it does not add.
  assert.doesNotMatch(await tool('mdir', ['-b', '-i', drive(img), '::/']), /fleet\.json/);
  const again = await fleet([
    'os',
    'configure',
    img.path,
    '--preload',
    TEST_IMAGE,
    '--preload',
    TEST_IMAGE,
  ]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await preloadFiles(img)).length, 3);
});

test('a boot partition without room refuses, naming both sizes, and leaves no preload files', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const img = await smallImage('full');
  // Fill the partition until less than a MiB is left.
  const { freeBytes } = await bootSpace(img.path);
  const filler = path.join(dir, 'filler.bin');
  await fs.writeFile(filler, Buffer.alloc(0));
  await fs.truncate(filler, freeBytes - 768 * 1024);
  await tool('mcopy', ['-i', drive(img), filler, '::/filler.bin']);
  const r = await fleet(['os', 'configure', img.path, '--preload', TEST_IMAGE]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /the boot partition has 0\.\d MiB free; the preloaded images need [\d.]+ MiB; build the image with --preload \(which sizes the boot partition to fit\) or use a larger --boot-size/,
  );
  assert.deepEqual(await preloadFiles(img), []);
  assert.doesNotMatch(await tool('mdir', ['-b', '-s', '-i', drive(img), '::/']), /preload/);
});

test('an image the engine does not have is refused by name before anything is written', async (t) => {
  if (!(await requireDocker(t))) return;
  const img = await smallImage('unknown');
  const r = await fleet(['os', 'configure', img.path, '--preload', 'fleet-test/preload-missing:0']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /the image fleet-test\/preload-missing:0 is not in the local Docker engine; docker pull or docker load it first/,
  );
  assert.deepEqual(await preloadFiles(img), []);
  const none = await fleet(['os', 'configure', img.path]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /give --manager and --token, or --preload IMAGE/);
  const labelOnly = await fleet([
    'os',
    'configure',
    img.path,
    '--label',
    'a=b',
    '--preload',
    TEST_IMAGE,
  ]);
  assert.equal(labelOnly.code, 2);
  assert.match(labelOnly.stderr, /--label needs --manager and --token/);
});

test("the build's preload step puts the images in the boot files, and the partition is sized to hold them", async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const boot = path.join(dir, 'boot-built');
  await fs.mkdir(boot);
  const img = await withSavedImages(
    [TEST_IMAGE],
    path.join(dir, 'built.img'),
    { boardArch: 'arm64', log: () => undefined },
    async (saved) => {
      await stagePreload(saved, boot);
      return smallImage('built', boot);
    },
  );
  assert.deepEqual(await preloadFiles(img), [
    '::/preload/',
    '::/preload/fleet-test_busybox_3.tar',
    '::/preload/index.json',
  ]);
  const index = parsePreloadIndex(await tool('mtype', ['-i', drive(img), '::/preload/index.json']));
  const local = path.join(dir, 'built.tar');
  await tool('mcopy', ['-i', drive(img), '::/preload/fleet-test_busybox_3.tar', local]);
  assert.equal(
    createHash('sha256')
      .update(await fs.readFile(local))
      .digest('hex'),
    index.images[0]?.sha256,
  );
  // The temporary folder of saved images is gone.
  assert.deepEqual(
    (await fs.readdir(dir)).filter((n) => n.startsWith('.fleet-preload-')),
    [],
  );
});
