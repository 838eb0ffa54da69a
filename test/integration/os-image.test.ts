// Board images end to end with the real tools and no mounts: assemble, inspect, configure, flash to files, and the refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { assembleImage, type AssembledImage } from '../../firmware-images/assemble.js';
import { bootTexts, loadBoard } from '../../firmware-images/board.js';
import { SECTOR } from '../../firmware-images/layout.js';
import { readPartitionTable } from '../../firmware-images/mbr.js';
import { parseMountinfo, rootMount } from '../../shared/mountinfo.js';
import { tempDir } from '../helpers/cluster.js';
import { fleetCli, tool, type CliRun } from '../helpers/os-build.js';
import { mountTmpfs, unmount } from '../helpers/tmpfs.js';

let dir = '';
let image: AssembledImage;

/** `fleet <args>` through bin/fleet.js; nothing it runs may write to a block device. */
const fleet = (args: string[]): Promise<CliRun> =>
  fleetCli(args, { FLEET_OS_FLASH_FILES_ONLY: '1' });

before(async () => {
  dir = tempDir('os-image');
  const board = await loadBoard('qemu-arm64');
  const boot = path.join(dir, 'boot');
  const root = path.join(dir, 'root');
  await fs.mkdir(boot);
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  // The board's expected files, as dummies; the generated ones from its templates.
  for (const f of board.bootFiles) await fs.writeFile(path.join(boot, f), `dummy ${f}\n`);
  const texts = bootTexts(board, {
    root: 'LABEL=fleetroot',
    kernel: 'vmlinuz',
    initrd: 'initrd.img',
  });
  for (const [name, text] of texts) await fs.writeFile(path.join(boot, name), text);
  await fs.writeFile(path.join(root, 'etc', 'hostname'), 'fleet-board\n');
  await fs.mkdir(path.join(root, 'opt', 'fleet'), { recursive: true });
  await fs.writeFile(path.join(root, 'opt', 'fleet', 'fleet-agent.mjs'), '// agent\n');
  image = await assembleImage({
    bootDir: boot,
    rootDir: root,
    out: path.join(dir, 'board.img'),
    minBootMiB: board.bootPartitionMiB,
  });
});

after(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test('the assembled image has the layout it was planned with, read by the MBR parser and by sfdisk', async () => {
  assert.equal(statSync(image.path).size, image.bytes);
  const table = await readPartitionTable(image.path);
  assert.deepEqual(
    table.map((p) => [p.index, p.bootable, p.type, p.start, p.sectors]),
    [
      [1, true, 0x0c, image.layout.boot.start, image.layout.boot.sectors],
      [2, false, 0x83, image.layout.root.start, image.layout.root.sectors],
    ],
  );
  const json = JSON.parse(await tool('sfdisk', ['--json', image.path])) as {
    partitiontable: { label: string; partitions: { start: number; size: number; type: string }[] };
  };
  assert.equal(json.partitiontable.label, 'dos');
  assert.deepEqual(
    json.partitiontable.partitions.map((p) => [p.start, p.size, p.type]),
    table.map((p) => [p.start, p.sectors, p.type.toString(16)]),
  );
  await assert.rejects(fs.stat(`${image.path}.partial`), { code: 'ENOENT' });
});

test('the boot partition holds the board files, and the root file system the tree it was made from', async () => {
  const offset = image.layout.boot.start * SECTOR;
  const listing = await tool('mdir', ['-b', '-i', `${image.path}@@${offset}`, '::/']);
  for (const f of (await loadBoard('qemu-arm64')).bootFiles)
    assert.match(listing, new RegExp(`::/${f}\\b`));
  const cmdline = await tool('mtype', ['-i', `${image.path}@@${offset}`, '::/cmdline.txt']);
  assert.match(cmdline, /^console=ttyAMA0 root=LABEL=fleetroot rw/);
  const rootAt = `${image.path}?offset=${image.layout.root.start * SECTOR}`;
  assert.equal(await tool('debugfs', ['-R', 'cat /etc/hostname', rootAt]), 'fleet-board\n');
  assert.equal(
    await tool('debugfs', ['-R', 'cat /opt/fleet/fleet-agent.mjs', rootAt]),
    '// agent\n',
  );
});

test('os configure writes fleet.json in place; os inspect shows it with the token redacted', async () => {
  const key = path.join(dir, 'id.pub');
  await fs.writeFile(key, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@laptop\n');
  const r = await fleet([
    'os',
    'configure',
    image.path,
    '--manager',
    '10.0.2.2:8883,10.0.2.3:8883',
    '--token',
    'SWMTKN-1-secret',
    '--label',
    'room=lab',
    '--label',
    'rack=2',
    '--hostname',
    'pi-{serial}',
    '--wifi-ssid',
    'lab',
    '--wifi-passphrase',
    'pass phrase',
    '--ssh-key',
    key,
    '--timezone',
    'Europe/Berlin',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(image.path).size, image.bytes);
  const offset = image.layout.boot.start * SECTOR;
  const written = JSON.parse(
    await tool('mtype', ['-i', `${image.path}@@${offset}`, '::/fleet.json']),
  ) as Record<string, unknown>;
  assert.deepEqual(written.managers, ['10.0.2.2:8883', '10.0.2.3:8883']);
  assert.equal(written.token, 'SWMTKN-1-secret');
  assert.deepEqual(written.labels, { room: 'lab', rack: '2' });
  assert.equal(written.sshAuthorizedKey, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@laptop');
  const shown = await fleet(['os', 'inspect', image.path]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /1 {2}\* +2048 +\d+ +[\d.]+ MiB +FAT32 \(LBA\)/);
  assert.match(shown.stdout, /^ {2}vmlinuz$/m);
  assert.match(shown.stdout, /"token": "<redacted>"/);
  assert.ok(!shown.stdout.includes('SWMTKN-1-secret') && !shown.stdout.includes('pass phrase'));
  // A second configure replaces the file rather than adding a copy.
  assert.equal(
    (await fleet(['os', 'configure', image.path, '--manager', 'm:1', '--token', 't'])).code,
    0,
  );
  const again = await tool('mdir', ['-b', '-i', `${image.path}@@${offset}`, '::/']);
  assert.equal(again.match(/fleet\.json/g)?.length, 1);
});

test('configure refuses a missing token, a bad address and a file that is not a board image', async () => {
  const noToken = await fleet(['os', 'configure', image.path, '--manager', 'm:1']);
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /--manager and --token go together/);
  const badAddress = await fleet(['os', 'configure', image.path, '--manager', 'm', '--token', 't']);
  assert.equal(badAddress.code, 2);
  assert.match(badAddress.stderr, /--manager: a manager address is HOST:PORT/);
  const notImage = path.join(dir, 'not.img');
  await fs.writeFile(notImage, Buffer.alloc(4096, 7));
  const refused = await fleet(['os', 'configure', notImage, '--manager', 'm:1', '--token', 't']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /not\.img: not a disk image: no MBR partition table/);
});

test('os flash writes a plain, an xz and a zstd image to a file and verifies each', async () => {
  await tool('xz', ['-k', '-1', '-T0', image.path]);
  await tool('zstd', ['-q', '-1', image.path, '-o', `${image.path}.zst`]);
  const want = readFileSync(image.path);
  for (const source of [image.path, `${image.path}.xz`, `${image.path}.zst`]) {
    const target = path.join(dir, 'card.bin');
    await fs.writeFile(target, 'an old card\n');
    const r = await fleet(['os', 'flash', source, target]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Wrote [\d.]+ MiB to .*card\.bin and verified it \(sha256 [0-9a-f]{64}\)/,
    );
    assert.ok(readFileSync(target).equals(want), `${path.basename(source)} flashed byte for byte`);
  }
});

test('a corrupt xz and a truncated zstd image are refused before the target is touched', async () => {
  const target = path.join(dir, 'untouched.bin');
  await fs.writeFile(target, 'keep me\n');
  const xz = readFileSync(`${image.path}.xz`);
  const corrupt = Buffer.from(xz);
  const middle = Math.floor(corrupt.length / 2);
  corrupt.writeUInt8(corrupt.readUInt8(middle) ^ 0xff, middle);
  await fs.writeFile(path.join(dir, 'corrupt.img.xz'), corrupt);
  const zst = readFileSync(`${image.path}.zst`);
  await fs.writeFile(path.join(dir, 'cut.img.zst'), zst.subarray(0, Math.floor(zst.length / 2)));
  for (const [name, said] of [
    ['corrupt.img.xz', /xz/],
    ['cut.img.zst', /zstd/],
  ] as const) {
    const r = await fleet(['os', 'flash', path.join(dir, name), target]);
    assert.equal(r.code, 1, name);
    assert.match(r.stderr, new RegExp(`${name} is corrupt or truncated, nothing was written`));
    assert.match(r.stderr, said);
    assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
  }
});

test('os flash refuses the root disk, a missing target, the image itself, and what is neither disk nor file', async () => {
  const missing = await fleet(['os', 'flash', image.path, path.join(dir, 'no-such-card')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no-such-card does not exist/);
  const itself = await fleet(['os', 'flash', image.path, image.path]);
  assert.match(itself.stderr, /board\.img is the image itself/);
  assert.equal(statSync(image.path).size, image.bytes);
  const odd = await fleet(['os', 'flash', image.path, '/dev/null']);
  assert.match(odd.stderr, /\/dev\/null is neither a block device nor a regular file/);
  const rootDevice = rootBlockDevice();
  if (rootDevice === null) return; // the root is on no block device here (an overlay, say)
  // FLEET_OS_FLASH_FILES_ONLY (set by fleet()) stops any write to a block device after the checks.
  const r = await fleet(['os', 'flash', '--yes-i-am-sure', image.path, rootDevice]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refusing to flash: .* the disk this system's root file system is on/);
});

test('a failed build leaves nothing under the output name', async () => {
  const out = path.join(dir, 'failed.img');
  const boot = path.join(dir, 'boot');
  await assert.rejects(
    assembleImage({
      bootDir: boot,
      rootDir: path.join(dir, 'root'),
      out,
      minBootMiB: 64,
      bootLabel: 'A LABEL TOO LONG FOR FAT',
    }),
    /making the boot file system: mkfs.vfat failed/,
  );
  await assert.rejects(
    assembleImage({ bootDir: boot, rootDir: path.join(dir, 'nowhere'), out, minBootMiB: 64 }),
    /measuring the content: .*nowhere is not a directory/,
  );
  const left = (await fs.readdir(dir)).filter(
    (n) => n.startsWith('failed.img') || n.startsWith('.fleet-image-'),
  );
  assert.deepEqual(left, []);
  await assert.rejects(
    loadBoard('pi-zero'),
    /unknown board "pi-zero"; known boards: qemu-arm64, rpi3, rpi4, rpi5/,
  );
});

/** The disk the root file system is on, as /dev/NAME, or null when it is on none. */
function rootBlockDevice(): string | null {
  const root = rootMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')));
  if (!root) return null;
  try {
    const sys = realpathSync(`/sys/dev/block/${root.majMin}`);
    const disk = statSync(path.join(sys, 'partition'), { throwIfNoEntry: false })
      ? path.dirname(sys)
      : sys;
    const dev = `/dev/${path.basename(disk)}`;
    return statSync(dev).isBlockDevice() ? dev : null;
  } catch {
    return null;
  }
}

test('a build that fills the disk fails with a clear error and leaves nothing behind', async (t) => {
  const small = path.join(dir, 'small-disk');
  await fs.mkdir(small);
  if (!(await mountTmpfs(t, small, '8m'))) return;
  t.after(() => unmount(small));
  const content = path.join(dir, 'big-root');
  await fs.mkdir(content);
  // Random bytes: the image copy skips zero blocks, so zeros would not fill anything.
  await fs.writeFile(path.join(content, 'payload'), randomBytes(12 * 2 ** 20));
  const out = path.join(small, 'full.img');
  await assert.rejects(
    assembleImage({ bootDir: path.join(dir, 'boot'), rootDir: content, out, minBootMiB: 36 }),
    (e: Error) => /no space left/i.test(e.message),
  );
  assert.deepEqual(await fs.readdir(small), [], 'no image, .partial or work folder left');
});
