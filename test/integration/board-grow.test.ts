// Growing the root with the real tools on files: sfdisk moves the last partition's end to a larger disk image's end, resize2fs grows ext4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  ALIGN_SECTORS,
  GPT_BACKUP_SECTORS,
  ext4Bytes,
  growDecision,
  tableKind,
} from '../../agent/board/grow-plan.js';
import { growPartitionTable, resizeFileSystem } from '../../agent/board/grow-root.js';
import { runTool } from '../../agent/board/run-tool.js';
import { tempDir } from '../helpers/cluster.js';

const MiB = 2 ** 20;

interface SfdiskJson {
  partitiontable: { label: string; partitions: { node: string; start: number; size: number }[] };
}

/** The decision's input for partition `n` of a disk image, as sysfs would give it on a board. */
async function factsOf(image: string, n: number) {
  const table = JSON.parse(await runTool('sfdisk', ['--json', image])) as SfdiskJson;
  const parts = table.partitiontable.partitions;
  const me = parts.find((p) => p.node.endsWith(String(n)));
  assert.ok(me, `partition ${n}`);
  const sector0 = new Uint8Array(512);
  const h = await fs.open(image, 'r');
  await h.read(sector0, 0, 512, 0);
  await h.close();
  return {
    number: n,
    start: me.start,
    size: me.size,
    diskSectors: (await fs.stat(image)).size / 512,
    otherStarts: parts.filter((p) => p !== me).map((p) => p.start),
    table: tableKind(sector0),
  };
}

/** A 25 MiB disk image file partitioned by the sfdisk `script`. */
async function partitionedCard(name: string, script: string): Promise<string> {
  const image = path.join(tempDir('board-grow'), name);
  await fs.writeFile(image, '');
  await fs.truncate(image, 25 * MiB);
  await runTool('sfdisk', ['--no-reread', '--no-tell-kernel', image], script);
  return image;
}

test('sfdisk grows partition 2 of a disk image to the end of the larger disk, once', async () => {
  // The assembler's layout: FAT at 1 MiB, the root right after it.
  const image = await partitionedCard('card.img', 'label: dos\n1MiB,8MiB,c,*\n9MiB,16MiB,83\n');
  assert.equal(growDecision(await factsOf(image, 2)).grow, false);
  // Flashed onto a larger card.
  await fs.truncate(image, 128 * MiB);
  const before = await factsOf(image, 2);
  assert.equal(before.table, 'dos');
  const decision = growDecision(before);
  assert.deepEqual(decision, { grow: true, freeSectors: ((128 - 25) * MiB) / 512 });
  await growPartitionTable(runTool, image, 2);
  const after = await factsOf(image, 2);
  assert.equal(after.start, before.start);
  assert.ok(after.start + after.size <= after.diskSectors);
  assert.ok(after.diskSectors - (after.start + after.size) <= ALIGN_SECTORS);
  assert.equal(growDecision(after).grow, false);
  // Partition 1 is untouched, and it could not grow: partition 2 follows it.
  const p1 = await factsOf(image, 1);
  assert.deepEqual([p1.start, p1.size], [MiB / 512, (8 * MiB) / 512]);
  assert.match((growDecision(p1) as { reason: string }).reason, /not the last one/);
});

test('on a GPT disk the backup table moves to the new end and partition 2 grows up to it', async () => {
  const image = await partitionedCard('gpt.img', 'label: gpt\n1MiB,8MiB\n9MiB,15MiB\n');
  await fs.truncate(image, 64 * MiB);
  const before = await factsOf(image, 2);
  assert.equal(before.table, 'gpt');
  assert.equal(growDecision(before).grow, true);
  await growPartitionTable(runTool, image, 2);
  const after = await factsOf(image, 2);
  assert.equal(after.start, before.start);
  assert.ok(after.start + after.size <= after.diskSectors - GPT_BACKUP_SECTORS);
  assert.equal(growDecision(after).grow, false);
});

test('resize2fs grows an ext4 file system to fill its larger file', async () => {
  const file = path.join(tempDir('board-grow'), 'root.ext4');
  await fs.writeFile(file, '');
  await fs.truncate(file, 16 * MiB);
  await runTool('mkfs.ext4', ['-q', '-F', '-L', 'fleetroot', file]);
  const bytes = async (): Promise<number | null> =>
    ext4Bytes(await runTool('dumpe2fs', ['-h', file]));
  assert.equal(await bytes(), 16 * MiB);
  await fs.truncate(file, 48 * MiB);
  await resizeFileSystem(runTool, file);
  assert.equal(await bytes(), 48 * MiB);
});
