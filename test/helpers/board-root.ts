// A made-up board for board setup's tests: mountinfo and sysfs for an SD card's partitions, files put under a root.
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Writes `content` at `p` under `root`, making its directories. */
export async function putFile(
  root: string,
  p: string,
  content: string | Uint8Array,
): Promise<void> {
  await fs.mkdir(path.dirname(path.join(root, p)), { recursive: true });
  await fs.writeFile(path.join(root, p), content);
}

export interface FakePartition {
  readonly number: number;
  readonly start: number;
  readonly size: number;
}

/**
 * An SD card mmcblk0 (179:0) as the kernel shows it: /sys/dev/block links into the device
 * tree, a directory per partition (179:N), the disk's size, an MBR signature in /dev/mmcblk0,
 * and / mounted from partition `rootNumber`.
 */
export async function fakeCard(
  root: string,
  diskSectors: number,
  partitions: readonly FakePartition[],
  rootNumber = 2,
  fsType = 'ext4',
): Promise<void> {
  const disk = 'devices/platform/emmc2bus/mmc_host/mmc0/block/mmcblk0';
  await putFile(root, `sys/${disk}/size`, `${diskSectors}\n`);
  await putFile(root, `sys/${disk}/queue/rotational`, '0\n');
  await fs.mkdir(path.join(root, 'sys/dev/block'), { recursive: true });
  await fs.symlink(`../../${disk}`, path.join(root, 'sys/dev/block/179:0'));
  for (const p of partitions) {
    const dir = `sys/${disk}/mmcblk0p${p.number}`;
    await putFile(root, `${dir}/partition`, `${p.number}\n`);
    await putFile(root, `${dir}/start`, `${p.start}\n`);
    await putFile(root, `${dir}/size`, `${p.size}\n`);
    await fs.symlink(
      `../../${disk}/mmcblk0p${p.number}`,
      path.join(root, `sys/dev/block/179:${p.number}`),
    );
  }
  const mbr = new Uint8Array(512);
  mbr.set([0x55, 0xaa], 510);
  await putFile(root, 'dev/mmcblk0', mbr);
  await putFile(
    root,
    'proc/self/mountinfo',
    `22 1 179:${rootNumber} / / rw,noatime - ${fsType} /dev/mmcblk0p${rootNumber} rw\n`,
  );
}
