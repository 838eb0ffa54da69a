// The pure parts of `fleet-agent board setup`: the grow decision, mountinfo and sysfs, /etc/hosts, authorized_keys, wpa_supplicant's file, the MAC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountinfo, rootMount, type Mount } from '../../shared/mountinfo.js';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ext4Bytes,
  fsShouldGrow,
  growDecision,
  sfdiskPartition,
  tableKind,
  type PartitionFacts,
} from '../../agent/board/grow-plan.js';
import { boardFacts, physicalMac } from '../../agent/board-config.js';
import { findRootPartition } from '../../agent/board/grow-root.js';
import { hostsWithName } from '../../agent/board/hostname.js';
import { fakeCard, putFile } from '../helpers/board-root.js';
import { FLEET_KEY_MARK, mergeAuthorizedKeys } from '../../agent/board/ssh.js';
import { wlanNetwork, wpaSupplicantConf } from '../../agent/board/wifi.js';

const MiB = 2048;
const sd: PartitionFacts = {
  number: 2,
  start: 257 * MiB,
  size: 1024 * MiB,
  diskSectors: 30_000 * MiB,
  otherStarts: [MiB],
  table: 'dos',
};

test('the last partition grows when more than 1 MiB follows it', () => {
  assert.deepEqual(growDecision(sd), { grow: true, freeSectors: (30_000 - 1281) * MiB });
  const full = { ...sd, size: sd.diskSectors - sd.start };
  assert.deepEqual(growDecision(full), {
    grow: false,
    reason: 'partition 2 already fills the disk',
  });
  // Alignment leaves up to 1 MiB unused: that is full too.
  assert.equal(growDecision({ ...full, size: full.size - MiB }).grow, false);
  assert.equal(growDecision({ ...full, size: full.size - MiB - 1 }).grow, true);
  // A GPT disk keeps its backup table in the last 33 sectors.
  assert.equal(growDecision({ ...full, table: 'gpt', size: full.size - MiB - 33 }).grow, false);
  assert.equal(growDecision({ ...full, table: 'gpt', size: full.size - MiB - 34 }).grow, true);
});

test('a partition that is not the last, a logical one, or one without a table is left alone', () => {
  assert.match(
    (growDecision({ ...sd, otherStarts: [MiB, 2000 * MiB] }) as { reason: string }).reason,
    /not the last one/,
  );
  assert.match(
    (growDecision({ ...sd, number: 5 }) as { reason: string }).reason,
    /logical partition/,
  );
  assert.equal(growDecision({ ...sd, number: 5, table: 'gpt' }).grow, true);
  assert.match(
    (growDecision({ ...sd, table: 'none' }) as { reason: string }).reason,
    /no MBR or GPT/,
  );
});

test('the table kind comes from the first sector', () => {
  const sector = new Uint8Array(512);
  assert.equal(tableKind(sector), 'none');
  sector[510] = 0x55;
  sector[511] = 0xaa;
  sector[446 + 4] = 0x0c;
  sector[446 + 16 + 4] = 0x83;
  assert.equal(tableKind(sector), 'dos');
  sector[446 + 4] = 0xee;
  assert.equal(tableKind(sector), 'gpt');
  assert.equal(tableKind(sector.subarray(0, 100)), 'none');
});

test('the root mount is the last mount on / in mountinfo', () => {
  const info = [
    '22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw',
    '23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=1k',
    '30 22 179:1 / /boot/firmware rw shared:9 - vfat /dev/mmcblk0p1 rw',
  ].join('\n');
  const rootOf = (text: string): Mount | undefined => rootMount(parseMountinfo(text));
  assert.deepEqual(rootOf(info), {
    majMin: '179:2',
    mountPoint: '/',
    fsType: 'ext4',
    source: '/dev/mmcblk0p2',
  });
  const over = `${info}\n40 22 0:40 / / rw shared:20 - overlay overlay rw,lowerdir=/x\n`;
  assert.equal(rootOf(over)?.fsType, 'overlay');
  assert.equal(rootOf('23 1 0:5 / /dev rw - devtmpfs udev rw'), undefined);
});

test('file-system and partition sizes from dumpe2fs and sfdisk', () => {
  const dump =
    'Filesystem volume name:   fleetroot\nBlock count:              262144\nBlock size:               4096\n';
  assert.equal(ext4Bytes(dump), 1024 * 2 ** 20);
  assert.equal(ext4Bytes('nothing'), null);
  assert.equal(fsShouldGrow(1024 * 2 ** 20, 1024 * 2 ** 20 + 4096), false);
  assert.equal(fsShouldGrow(1024 * 2 ** 20, 2048 * 2 ** 20), true);
  const json = JSON.stringify({
    partitiontable: {
      label: 'dos',
      partitions: [
        { node: '/dev/mmcblk0p1', start: 2048, size: 524288, type: 'c' },
        { node: '/dev/mmcblk0p2', start: 526336, size: 61000000, type: '83' },
      ],
    },
  });
  assert.deepEqual(sfdiskPartition(json, 2), { start: 526336, size: 61000000 });
  assert.equal(sfdiskPartition(json, 3), null);
});

test('the root partition is found through mountinfo and sysfs (a fake tree)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-sysfs-'));
  await fakeCard(root, 62_333_952, [
    { number: 1, start: 2048, size: 524288 },
    { number: 2, start: 526336, size: 2097152 },
  ]);
  const found = await findRootPartition(root);
  assert.deepEqual(found, {
    facts: {
      number: 2,
      start: 526336,
      size: 2097152,
      diskSectors: 62_333_952,
      otherStarts: [2048],
      table: 'dos',
    },
    disk: path.join(root, 'dev/mmcblk0'),
    partition: path.join(root, 'dev/mmcblk0p2'),
    fsType: 'ext4',
  });
  await putFile(root, 'proc/self/mountinfo', '22 1 179:0 / / rw - ext4 /dev/mmcblk0 rw\n');
  assert.match((await findRootPartition(root)) as string, /on mmcblk0, which is not a partition/);
  await putFile(root, 'proc/self/mountinfo', '22 1 0:31 / / rw - overlay overlay rw\n');
  assert.match((await findRootPartition(root)) as string, /not on a block device/);
  await fs.rm(root, { recursive: true, force: true });
});

test("/etc/hosts gets the board's 127.0.1.1 line; other lines stay", () => {
  const debian = '127.0.0.1\tlocalhost\n127.0.1.1\tfleet-board\n::1\tlocalhost ip6-localhost\n';
  assert.equal(
    hostsWithName(debian, 'pi-1234'),
    '127.0.0.1\tlocalhost\n127.0.1.1\tpi-1234\n::1\tlocalhost ip6-localhost\n',
  );
  assert.equal(
    hostsWithName(hostsWithName(debian, 'pi-1234'), 'pi-1234'),
    hostsWithName(debian, 'pi-1234'),
  );
  assert.equal(
    hostsWithName('127.0.0.1 localhost\n10.0.0.9 nas', 'pi-1'),
    '127.0.0.1 localhost\n127.0.1.1\tpi-1\n10.0.0.9 nas\n',
  );
  assert.equal(hostsWithName('10.0.0.9 nas\n', 'pi-1'), '127.0.1.1\tpi-1\n10.0.0.9 nas\n');
  const fresh = hostsWithName(null, 'pi-1');
  assert.match(fresh, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(fresh, /^127\.0\.1\.1\tpi-1$/m);
  assert.match(fresh, /^::1\t+localhost/m);
});

test("authorized_keys: fleet's key replaced or removed, every other line kept", () => {
  const mine = 'ssh-ed25519 AAAAmine me@laptop';
  const theirs = 'ssh-rsa AAAAtheirs ops@jump';
  const first = mergeAuthorizedKeys(null, mine);
  assert.equal(first, `${FLEET_KEY_MARK}\n${mine}\n`);
  assert.equal(mergeAuthorizedKeys(first, mine), first);
  const withOther = `${theirs}\n${first}# a note\n`;
  const next = 'ssh-ed25519 AAAAnext me@new-laptop';
  assert.equal(
    mergeAuthorizedKeys(withOther, next),
    `${theirs}\n# a note\n${FLEET_KEY_MARK}\n${next}\n`,
  );
  assert.equal(mergeAuthorizedKeys(withOther, undefined), `${theirs}\n# a note\n`);
  assert.equal(mergeAuthorizedKeys(first, undefined), '');
  // A mark whose key line someone removed takes no other line with it.
  assert.equal(
    mergeAuthorizedKeys(`${FLEET_KEY_MARK}\n# kept\n${theirs}\n`, undefined),
    `# kept\n${theirs}\n`,
  );
});

test("wpa_supplicant's file holds the SSID in hex and the PSK, never the pass phrase", () => {
  // IEEE 802.11i, annex H.4: pass phrase "password", SSID "IEEE".
  const conf = wpaSupplicantConf('IEEE', 'password');
  assert.match(conf, /^\tssid=49454545$/m);
  assert.match(conf, /^\tpsk=f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e$/m);
  assert.match(conf, /^ctrl_interface=\/run\/wpa_supplicant$/m);
  assert.doesNotMatch(conf, /password/);
  const quoted = wpaSupplicantConf('caf\u00e9 "lab"\nx', 'pa"ss word');
  assert.match(quoted, /^\tssid=636166c3a920226c6162220a78$/m);
  assert.equal(quoted.split('\n').length, conf.split('\n').length);
  assert.equal(wlanNetwork(), '[Match]\nName=wlan0\n\n[Network]\nDHCP=yes\n');
});

test('the MAC for {mac} is of the lowest-named physical interface; bridges and veths are skipped', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-net-'));
  const nic = async (name: string, mac: string, physical: boolean): Promise<void> => {
    const dir = path.join(root, 'sys/class/net', name);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'address'), `${mac}\n`);
    if (physical) await fs.mkdir(path.join(dir, 'device'));
  };
  assert.equal(await physicalMac(root), '');
  await nic('lo', '00:00:00:00:00:00', false);
  await nic('docker0', '02:42:ac:11:00:01', false);
  await nic('wlan0', 'DC:A6:32:00:00:02', true);
  assert.equal(await physicalMac(root), 'dc:a6:32:00:00:02');
  await nic('end0', 'dc:a6:32:00:00:01', true);
  assert.equal(await physicalMac(root), 'dc:a6:32:00:00:01');
  assert.equal((await boardFacts(root)).mac, 'dca632000001');
  await fs.rm(root, { recursive: true, force: true });
});
