// An rpi4 image from `fleet os build`, inspected without mounting: partition table, boot partition (firmware, config.txt, kernel, initramfs, device trees) and root file system.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readPartitionTable } from '../../firmware-images/mbr.js';
import { tempDir } from '../helpers/cluster.js';
import {
  buildBoardImage,
  cpioNames,
  osBuildMissing,
  partitionsOf,
  tool,
} from '../helpers/os-build.js';

const missing = osBuildMissing();
if (missing && process.env.CI === 'true')
  throw new Error(`in CI the board tests must run: ${missing}`);

let dir = '';
let image = '';

before(() => {
  dir = tempDir('rpi4-image');
});

after(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test(
  'os build --board rpi4 makes a Docker image with fleet.json',
  {
    skip: missing ?? false,
    timeout: 10 * 60_000,
  },
  async () => {
    image = path.join(dir, 'pi.img');
    const built = await buildBoardImage('rpi4', 'docker', image, [
      ...['--manager', '10.0.0.2:8883', '--token', 'FLEET-1-test', '--label', 'rack=a'],
    ]);
    console.log(built.summary);
  },
);

test('the partition table: a bootable FAT32 partition, then ext4, on 1 MiB boundaries', async (t) => {
  if (!image) return t.skip('no image was built');
  const [boot, root, ...more] = await readPartitionTable(image);
  assert.ok(boot && root);
  assert.deepEqual(more, []);
  assert.equal(boot.type, 0x0c);
  assert.equal(boot.bootable, true);
  assert.equal(root.type, 0x83);
  assert.equal(boot.start % 2048, 0);
  assert.equal(root.start % 2048, 0);
  assert.equal(root.start, boot.start + boot.sectors);
});

test("the boot partition: the Pi 4's firmware, config.txt, cmdline.txt, kernel, initramfs, device trees", async (t) => {
  if (!image) return t.skip('no image was built');
  const { boot } = await partitionsOf(image);
  const listing = await tool('mdir', ['-b', '-i', boot, '::/']);
  for (const f of [
    ...['start4.elf', 'fixup4.dat', 'config.txt', 'cmdline.txt', 'vmlinuz', 'initrd.img'],
    ...['bcm2711-rpi-4-b.dtb', 'bcm2711-rpi-400.dtb', 'bcm2711-rpi-cm4-io.dtb', 'fleet.json'],
  ]) {
    assert.match(listing, new RegExp(`::/${f.replace('.', '\\.')}\\b`), f);
  }
  const type = (f: string): Promise<string> => tool('mtype', ['-i', boot, `::/${f}`]);
  const config = await type('config.txt');
  for (const line of ['arm_64bit=1', 'kernel=vmlinuz', 'initramfs initrd.img followkernel']) {
    assert.match(config, new RegExp(`^${line}$`, 'm'), line);
  }
  assert.match(config, /^\[cm4\]\ndevice_tree=bcm2711-rpi-cm4-io\.dtb\n\[all\]$/m);
  assert.match(
    await type('cmdline.txt'),
    /^console=tty0 console=ttyS1,115200 root=LABEL=fleetroot rw .*rootwait\n$/,
  );
  const settings = JSON.parse(await type('fleet.json')) as Record<string, unknown>;
  assert.deepEqual(settings.managers, ['10.0.0.2:8883']);
  assert.deepEqual(settings.labels, { rack: 'a' });
  const kernel = path.join(dir, 'vmlinuz');
  const initrd = path.join(dir, 'initrd.img');
  for (const [f, to] of [
    ['vmlinuz', kernel],
    ['initrd.img', initrd],
  ] as const) {
    await tool('mcopy', ['-n', '-i', boot, `::/${f}`, to]);
  }
  // An arm64 kernel Image carries "ARM\x64" at byte 56 (the kernel's booting.rst).
  assert.equal(readFileSync(kernel).subarray(56, 60).toString('latin1'), 'ARM\x64');
  const modules = cpioNames(gunzipSync(readFileSync(initrd))).filter((n) => n.endsWith('.ko'));
  for (const m of ['sdhci-iproc.ko', 'gpio-regulator.ko', 'usb-storage.ko', 'ext4.ko']) {
    assert.ok(
      modules.some((n) => n.endsWith(`/${m}`)),
      `${m} in the initramfs`,
    );
  }
  assert.ok(
    modules.length < 60,
    `only the listed modules and their dependencies: ${modules.length}`,
  );
});

test('the root: Docker, Wi-Fi firmware and tools, the units, only Broadcom device trees, no host keys', async (t) => {
  if (!image) return t.skip('no image was built');
  const { root } = await partitionsOf(image);
  const debugfs = (req: string): Promise<string> => tool('debugfs', ['-R', req, root]);
  assert.match(await debugfs('ls /usr/sbin'), /\bdockerd\b/);
  assert.match(await debugfs('ls /usr/sbin'), /\bwpa_supplicant\b/);
  assert.match(await debugfs('ls /usr/lib/firmware/brcm'), /brcmfmac43455-sdio/);
  assert.match(await debugfs('cat /etc/systemd/system/fleet-agent.service'), /--runtime docker$/m);
  assert.match(
    await debugfs('cat /etc/systemd/system/fleet-agent.service'),
    /^After=.*docker\.service/m,
  );
  const modules = (await debugfs('ls -p /usr/lib/modules')).match(/\/(\d[^/]*-arm64)\//)?.[1];
  assert.ok(modules, 'a kernel module tree');
  const trees = await debugfs(`ls -p /usr/lib/linux-image-${modules}`);
  assert.match(trees, /\/broadcom\//);
  assert.doesNotMatch(trees, /\/(amlogic|rockchip|freescale)\//);
  assert.doesNotMatch(await debugfs(`ls /usr/lib/modules/${modules}/kernel`), /\bsound\b/);
  assert.doesNotMatch(await debugfs('ls /etc/ssh'), /ssh_host_/);
  assert.doesNotMatch(await debugfs('ls /boot'), /vmlinuz-/);
  const raw = (await fs.stat(image)).size;
  console.log(`rpi4 image with Docker: ${(raw / 2 ** 20).toFixed(0)} MiB raw`);
});
