// The pure parts of board images: partition layout, MBR parsing, boot-file templates, board profiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bootTexts,
  listBoards,
  loadBoard,
  missingBootFiles,
  renderTemplate,
} from '../../firmware-images/board.js';
import {
  ALIGN_SECTORS,
  MIB,
  SECTOR,
  alignUp,
  planLayout,
  roundUpMiB,
  sfdiskScript,
  withHeadroom,
} from '../../firmware-images/layout.js';
import { isFatType, looksLikeFat, parseMbr, typeName } from '../../firmware-images/mbr.js';

test('partitions start on 1 MiB boundaries and sizes round up to whole MiB', () => {
  assert.equal(ALIGN_SECTORS, 2048);
  assert.equal(roundUpMiB(1), MIB);
  assert.equal(roundUpMiB(MIB), MIB);
  assert.equal(roundUpMiB(MIB + 1), 2 * MIB);
  assert.equal(alignUp(2049), 4096);
  const l = planLayout(64 * MIB + 3, 100 * MIB);
  assert.deepEqual(l.boot, { start: 2048, sectors: (65 * MIB) / SECTOR });
  assert.equal(l.root.start % ALIGN_SECTORS, 0);
  assert.ok(l.root.start >= l.boot.start + l.boot.sectors);
  assert.equal(l.totalSectors, l.root.start + (100 * MIB) / SECTOR);
});

test('a partition gets its content plus headroom, never less than the minimum', () => {
  assert.equal(withHeadroom(0, { ratio: 0.2, extraBytes: 4 * MIB, minBytes: 64 * MIB }), 64 * MIB);
  const big = withHeadroom(100 * MIB, { ratio: 0.25, extraBytes: 16 * MIB, minBytes: 32 * MIB });
  assert.equal(big, 141 * MIB);
  assert.throws(() => roundUpMiB(-1), /invalid size/);
});

test('the sfdisk script declares a dos table, a bootable FAT32 LBA boot and a Linux root', () => {
  const script = sfdiskScript(planLayout(64 * MIB, 32 * MIB));
  assert.match(script, /^label: dos\nunit: sectors\n/);
  assert.match(script, /start=2048, size=131072, type=c, bootable\n/);
  assert.match(script, /start=133120, size=65536, type=83\n/);
});

/** A first sector with the given entries, as an MBR holds them. */
function mbr(entries: { status: number; type: number; start: number; sectors: number }[]): Buffer {
  const b = Buffer.alloc(512);
  entries.forEach((e, i) => {
    const at = 446 + i * 16;
    b[at] = e.status;
    b[at + 4] = e.type;
    b.writeUInt32LE(e.start, at + 8);
    b.writeUInt32LE(e.sectors, at + 12);
  });
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

test('an MBR is read entry by entry; empty entries are left out', () => {
  const table = parseMbr(
    mbr([
      { status: 0x80, type: 0x0c, start: 2048, sectors: 131072 },
      { status: 0, type: 0, start: 0, sectors: 0 },
      { status: 0, type: 0x83, start: 133120, sectors: 65536 },
    ]),
  );
  assert.deepEqual(table, [
    { index: 1, bootable: true, type: 0x0c, start: 2048, sectors: 131072 },
    { index: 3, bootable: false, type: 0x83, start: 133120, sectors: 65536 },
  ]);
  assert.equal(typeName(0x0c), 'FAT32 (LBA)');
  assert.ok(isFatType(0x0b) && !isFatType(0x83));
});

test('a sector without the signature, a short file, a GPT disk and a bad status are refused', () => {
  assert.throws(() => parseMbr(Buffer.alloc(512)), /no MBR partition table/);
  assert.throws(() => parseMbr(Buffer.alloc(100)), /shorter than one sector/);
  assert.throws(
    () => parseMbr(mbr([{ status: 0, type: 0xee, start: 1, sectors: 100 }])),
    /GPT disk/,
  );
  assert.throws(
    () => parseMbr(mbr([{ status: 0x12, type: 0x83, start: 1, sectors: 100 }])),
    /bad status/,
  );
});

test('a FAT boot sector is recognised by its type string where FAT16 or FAT32 keep it', () => {
  const fat32 = Buffer.alloc(512);
  fat32.write('FAT32   ', 0x52, 'latin1');
  fat32[510] = 0x55;
  fat32[511] = 0xaa;
  assert.ok(looksLikeFat(fat32));
  const ext = Buffer.alloc(512);
  ext[510] = 0x55;
  ext[511] = 0xaa;
  assert.ok(!looksLikeFat(ext));
});

test('templates fill every placeholder and refuse one without a value', () => {
  const vars = {
    root: 'LABEL=fleetroot',
    console: 'ttyS1,115200',
    kernel: 'vmlinuz',
    initrd: 'initrd.img',
  };
  assert.equal(
    renderTemplate('root={{root}} console={{ console }}', vars),
    'root=LABEL=fleetroot console=ttyS1,115200',
  );
  assert.throws(() => renderTemplate('x={{serial}}', vars), /\{\{serial\}\}, which has no value/);
});

test('every board profile loads; the Pi 4 renders a one-line cmdline.txt and a 64-bit config.txt', async () => {
  assert.deepEqual(await listBoards(), ['qemu-arm64', 'rpi3', 'rpi4', 'rpi5']);
  for (const name of await listBoards()) assert.equal((await loadBoard(name)).name, name);
  const pi4 = await loadBoard('rpi4');
  assert.ok(pi4.bootFiles.includes('start4.elf') && pi4.bootFiles.includes('bcm2711-rpi-4-b.dtb'));
  const texts = bootTexts(pi4, {
    root: 'LABEL=fleetroot',
    kernel: 'vmlinuz',
    initrd: 'initrd.img',
  });
  const cmdline = texts.get('cmdline.txt') ?? '';
  assert.equal(cmdline.split('\n').length, 2);
  assert.match(cmdline, /console=ttyS1,115200 root=LABEL=fleetroot /);
  assert.match(
    texts.get('config.txt') ?? '',
    /arm_64bit=1\n[\s\S]*initramfs initrd.img followkernel/,
  );
  assert.deepEqual(
    missingBootFiles(
      pi4,
      pi4.bootFiles.filter((f) => f !== 'fixup4.dat'),
    ),
    ['fixup4.dat'],
  );
});

test('the Pi 5 profile says Debian bookworm cannot boot it; the QEMU board needs no firmware', async () => {
  const pi5 = await loadBoard('rpi5');
  assert.equal(pi5.supported, false);
  assert.match(pi5.note ?? '', /bookworm/);
  const qemu = await loadBoard('qemu-arm64');
  assert.deepEqual(qemu.packages.firmware, []);
  assert.equal(qemu.configTxt, undefined);
});

test('an unknown board is an error that lists the known boards', async () => {
  await assert.rejects(loadBoard('rpi9'), {
    message: 'unknown board "rpi9"; known boards: qemu-arm64, rpi3, rpi4, rpi5',
  });
});
