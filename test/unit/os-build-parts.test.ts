// The pure parts of `fleet os build`: mmdebstrap's arguments from a profile, the cache key, the agent's and board setup's units, fstab, ELF checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBoard, type Board } from '../../firmware-images/board.js';
import { bootSourceOf } from '../../firmware-images/boot-files.js';
import {
  INITRAMFS_CONF,
  INITRAMFS_HOOK,
  initramfsConf,
  initramfsHook,
  initramfsSetupHook,
} from '../../firmware-images/initramfs.js';
import { aarch64ElfProblem } from '../../firmware-images/node-binary.js';
import {
  agentUnit,
  boardSetupUnit,
  fstab,
  nodeFlagsFromShebang,
  BOOT_LABEL,
  ROOT_LABEL,
} from '../../firmware-images/root-files.js';
import {
  DEFAULT_MIRROR,
  customizeHook,
  deviceTreeTrim,
  mmdebstrapArgs,
  rootfsCacheKey,
  rootfsPackages,
} from '../../firmware-images/rootfs.js';

test('mmdebstrap gets minbase arm64 bookworm, the profile packages, and non-free-firmware only for boards that need it', async () => {
  const rpi4 = await loadBoard('rpi4');
  const args = mmdebstrapArgs({ board: rpi4, runtime: 'docker', mirror: DEFAULT_MIRROR }, '/o.tar');
  assert.deepEqual(args.slice(0, 4), [
    '--variant=minbase',
    '--architectures=arm64',
    '--format=tar',
    '--components=main,non-free-firmware',
  ]);
  assert.deepEqual(args.slice(-3), ['bookworm', '/o.tar', DEFAULT_MIRROR]);
  const include =
    args
      .find((a) => a.startsWith('--include='))
      ?.split('=')[1]
      ?.split(',') ?? [];
  for (const p of [
    'systemd-sysv',
    'linux-image-arm64',
    'raspi-firmware',
    'docker.io',
    'openssh-server',
  ]) {
    assert.ok(include.includes(p), p);
  }
  assert.ok(args.includes('--dpkgopt=path-exclude=/usr/share/man/*'));
  const qemu = await loadBoard('qemu-arm64');
  const q = mmdebstrapArgs({ board: qemu, runtime: 'process', mirror: DEFAULT_MIRROR }, '/o.tar');
  assert.ok(q.includes('--components=main'));
  const qemuPackages = rootfsPackages({ board: qemu, runtime: 'process', mirror: DEFAULT_MIRROR });
  assert.ok(!qemuPackages.includes('docker.io') && !qemuPackages.includes('raspi-firmware'));
  assert.equal(new Set(qemuPackages).size, qemuPackages.length);
});

test("the customize hook removes the profile's module directories and reruns depmod", async () => {
  const hook = customizeHook(await loadBoard('qemu-arm64'));
  assert.match(hook, /rm -rf .*"\$1"\/lib\/modules\/\*\/kernel\/sound /);
  assert.match(hook, /"\$1"\/lib\/modules\/\*\/kernel\/drivers\/net\/wireless/);
  assert.match(hook, /chroot "\$1" depmod/);
  assert.match(hook, /systemctl enable systemd-networkd/);
  // openssh-server's host keys would be shared by every board: board setup makes them at boot.
  assert.match(hook, /^rm -f "\$1"\/etc\/ssh\/ssh_host_\*$/m);
});

test('the cache key changes with packages, runtime and mirror, and boards alike in those share it', async () => {
  const rpi4 = await loadBoard('rpi4');
  const base = { board: rpi4, runtime: 'docker' as const, mirror: DEFAULT_MIRROR };
  const key = rootfsCacheKey(base);
  assert.match(key, /^[0-9a-f]{16}$/);
  assert.equal(rootfsCacheKey({ ...base }), key);
  assert.notEqual(rootfsCacheKey({ ...base, runtime: 'process' }), key);
  assert.notEqual(rootfsCacheKey({ ...base, mirror: 'http://mirror.example/debian' }), key);
  const more = { ...rpi4, packages: { ...rpi4.packages, extra: ['htop'] } };
  assert.notEqual(rootfsCacheKey({ ...base, board: more }), key);
  // Boards with the same packages and trims share one root file system.
  assert.equal(rootfsCacheKey({ ...base, board: await loadBoard('rpi3') }), key);
  assert.notEqual(rootfsCacheKey({ ...base, board: await loadBoard('qemu-arm64') }), key);
});

test('the agent unit restarts always, waits for local file systems only, and reads fleet.json', () => {
  const unit = agentUnit('process', ['--no-opt']);
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/bin\/node --no-opt \/usr\/local\/lib\/fleet\/fleet-agent\.mjs agent start --supervise --config \/boot\/firmware\/fleet\.json --data-dir \/var\/lib\/fleet-agent --runtime process$/m,
  );
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, /^After=local-fs\.target$/m);
  assert.match(unit, /^Wants=network-online\.target$/m);
  assert.doesNotMatch(unit, /After=.*network-online/);
  assert.doesNotMatch(unit, /Requires=/);
  assert.doesNotMatch(unit, /docker/);
  assert.match(unit, /^WantedBy=multi-user\.target$/m);
  assert.match(unit, /^After=fleet-board-setup\.service$/m);
  assert.match(unit, /^Wants=fleet-board-setup\.service$/m);
  assert.match(agentUnit('docker'), /^After=docker\.service$/m);
});

test('board setup runs once per boot from fleet.json, before the network, sshd and the agent', () => {
  const unit = boardSetupUnit(['--no-opt']);
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/bin\/node --no-opt \/usr\/local\/lib\/fleet\/fleet-agent\.mjs board setup --config \/boot\/firmware\/fleet\.json$/m,
  );
  assert.match(unit, /^Type=oneshot$/m);
  assert.match(unit, /^RemainAfterExit=yes$/m);
  assert.match(unit, /^DefaultDependencies=no$/m);
  assert.match(unit, /^After=local-fs\.target$/m);
  assert.match(unit, /^RequiresMountsFor=\/boot\/firmware$/m);
  const before = /^Before=(network-pre.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];
  for (const u of [
    'network-pre.target',
    'systemd-networkd.service',
    'ssh.service',
    'fleet-agent.service',
  ]) {
    assert.ok(before.includes(u), u);
  }
  assert.match(unit, /^Before=wpa_supplicant@wlan0\.service$/m);
  assert.match(unit, /^Wants=network-pre\.target$/m);
  assert.match(unit, /^StandardOutput=journal\+console$/m);
  assert.match(unit, /^WantedBy=sysinit\.target$/m);
  assert.doesNotMatch(unit, /^Restart=/m);
});

test('fstab mounts the partitions by the labels the assembler gives them', () => {
  const lines = fstab()
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(/\s+/));
  assert.deepEqual(lines[0]?.slice(0, 3), [`LABEL=${ROOT_LABEL}`, '/', 'ext4']);
  assert.deepEqual(lines[1]?.slice(0, 3), [`LABEL=${BOOT_LABEL}`, '/boot/firmware', 'vfat']);
  assert.match(lines[1]?.[3] ?? '', /fmask=0077/);
});

test('node flags come from the bundle shebang; a plain shebang gives none', () => {
  assert.deepEqual(
    nodeFlagsFromShebang('#!/usr/bin/env -S node --no-opt --max-semi-space-size=1'),
    ['--no-opt', '--max-semi-space-size=1'],
  );
  assert.deepEqual(nodeFlagsFromShebang('#!/usr/bin/env node'), []);
  assert.deepEqual(nodeFlagsFromShebang('// no shebang'), []);
});

test('an aarch64 ELF header passes; x86-64, 32-bit and non-ELF files are named', () => {
  const elf = (cls: number, machine: number): Uint8Array => {
    const h = new Uint8Array(64);
    h.set([0x7f, 0x45, 0x4c, 0x46, cls, 1], 0);
    h[18] = machine & 0xff;
    h[19] = machine >> 8;
    return h;
  };
  assert.equal(aarch64ElfProblem(elf(2, 183)), null);
  assert.match(aarch64ElfProblem(elf(2, 62)) ?? '', /machine 62, not aarch64/);
  assert.match(aarch64ElfProblem(elf(1, 183)) ?? '', /not a 64-bit/);
  assert.equal(
    aarch64ElfProblem(new TextEncoder().encode('#!/bin/sh\n'.repeat(4))),
    'not an ELF file',
  );
});

test('boot files come from templates, the kernel, the initramfs, device trees or the firmware', () => {
  assert.equal(bootSourceOf('config.txt').kind, 'template');
  assert.equal(bootSourceOf('vmlinuz').kind, 'kernel');
  assert.equal(bootSourceOf('initrd.img').kind, 'initrd');
  assert.equal(bootSourceOf('bcm2711-rpi-4-b.dtb').kind, 'dtb');
  assert.equal(bootSourceOf('start4.elf').kind, 'firmware');
});

test('the root is merged-/usr from the start, so usrmerge and Perl stay out', async () => {
  const qemu = await loadBoard('qemu-arm64');
  const args = mmdebstrapArgs({ board: qemu, runtime: 'process', mirror: DEFAULT_MIRROR }, '/o');
  assert.ok(args.includes('--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr'));
});

test("the initramfs holds the board's listed modules, made before the kernel is installed", async () => {
  const qemu = await loadBoard('qemu-arm64');
  assert.equal(initramfsConf(), 'MODULES=list\nCOMPRESS=gzip\n');
  assert.match(initramfsHook(qemu), /^manual_add_modules virtio_pci virtio_mmio virtio_blk ext4 /m);
  const args = mmdebstrapArgs({ board: qemu, runtime: 'process', mirror: DEFAULT_MIRROR }, '/o');
  const setup = args.find((a) => a.startsWith('--setup-hook=set -e')) ?? '';
  assert.ok(setup.includes(INITRAMFS_HOOK) && setup.includes(INITRAMFS_CONF), setup);
  // The Pi 3 and 4 list the same modules, so they share one root file system.
  const [rpi3, rpi4] = [await loadBoard('rpi3'), await loadBoard('rpi4')];
  assert.deepEqual(rpi3.initramfsModules, rpi4.initramfsModules);
  assert.ok(rpi4.initramfsModules.includes('sdhci_iproc'));
});

test('the setup hook writes the initramfs files as given, when run by a shell', async () => {
  const qemu = await loadBoard('qemu-arm64');
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-initramfs-'));
  try {
    const r = spawnSync('sh', ['-c', initramfsSetupHook(qemu), 'hook', root]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(readFileSync(path.join(root, INITRAMFS_CONF), 'utf8'), initramfsConf());
    assert.equal(readFileSync(path.join(root, INITRAMFS_HOOK), 'utf8'), initramfsHook(qemu));
    assert.equal(statSync(path.join(root, INITRAMFS_HOOK)).mode & 0o777, 0o755);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('device trees: a Pi keeps only broadcom/, the QEMU board none, when run by a shell', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-dtb-'));
  try {
    const trees = path.join(root, 'usr/lib/linux-image-6.1.0-9-arm64');
    const remaining = (board: Board): string[] => {
      for (const v of ['broadcom', 'amlogic', 'rockchip']) {
        mkdirSync(path.join(trees, v), { recursive: true });
        writeFileSync(path.join(trees, v, 'a.dtb'), '');
      }
      const r = spawnSync('sh', ['-c', deviceTreeTrim(board), 'hook', root]);
      assert.equal(r.status, 0, r.stderr.toString());
      return readdirSync(trees).sort();
    };
    assert.deepEqual(remaining(await loadBoard('rpi4')), ['broadcom']);
    // The same loop keeps a Pi's own network drivers and the SCSI core's modules.
    const scsi = path.join(root, 'lib/modules/6.1.0-9-arm64/kernel/drivers/scsi');
    mkdirSync(path.join(scsi, 'qla2xxx'), { recursive: true });
    for (const f of ['sd_mod.ko', 'scsi_mod.ko']) writeFileSync(path.join(scsi, f), '');
    const pi = customizeHook(await loadBoard('rpi4'));
    const line = pi.split('\n').find((l) => l.includes('kernel/drivers/scsi/*')) ?? '';
    const r = spawnSync('sh', ['-c', line, 'hook', root]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(readdirSync(scsi).sort(), ['scsi_mod.ko', 'sd_mod.ko']);
    assert.deepEqual(remaining(await loadBoard('qemu-arm64')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const qemu = customizeHook(await loadBoard('qemu-arm64'));
  assert.ok(qemu.includes(deviceTreeTrim(await loadBoard('qemu-arm64'))));
  assert.match(qemu, /rm -rf "\$1"\/usr\/lib\/udev\/hwdb\.d/);
});
