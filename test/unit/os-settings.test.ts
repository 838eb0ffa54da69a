// fleet.json on a board's boot partition, the flash target checks and the progress line: pure parts, no devices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatBoardSettings,
  parseBoardSettings,
  redactBoardSettings,
} from '../../shared/board-settings.js';
import { majMinOf, refusals, type FlashTarget } from '../../firmware-images/device.js';
import { parseMountinfo, rootMount } from '../../shared/mountinfo.js';
import { compressionOf } from '../../firmware-images/flash.js';
import { formatBytes, formatProgress } from '../../firmware-images/progress.js';
import { settingsFrom } from '../../manager/cli/os/configure.js';

const full = {
  version: 1,
  managers: ['10.0.0.2:8883', '[fd00::1]:8883'],
  token: 'SWMTKN-1-x',
  hostname: 'pi-{serial}',
  labels: { room: 'lab' },
  wifi: { ssid: 'home', passphrase: 'correct horse' },
  sshAuthorizedKey: 'ssh-ed25519 AAAAC3Nza me@laptop',
  timezone: 'Europe/Berlin',
};

test('fleet.json round-trips through its text form', () => {
  const s = parseBoardSettings(JSON.stringify(full));
  assert.deepEqual(parseBoardSettings(formatBoardSettings(s)), s);
  assert.deepEqual(parseBoardSettings('{"version":1,"managers":["m:1"]}').labels, {});
});

test('fleet.json errors name the key at fault', () => {
  const bad = (over: object, re: RegExp): void =>
    assert.throws(() => parseBoardSettings(JSON.stringify({ ...full, ...over })), re);
  bad({ managers: [] }, /managers: at least one manager address/);
  bad({ managers: ['host'] }, /managers\.0: a manager address is HOST:PORT/);
  bad({ managers: ['host:70000'] }, /HOST:PORT/);
  bad({ wifi: { ssid: 'x', passphrase: 'short' } }, /wifi\.passphrase/);
  bad({ timezone: 'Berlin time' }, /timezone/);
  bad({ hostname: 'pi_{serial}' }, /hostname/);
  bad({ extra: 1 }, /\(top level\)/);
  assert.throws(() => parseBoardSettings('{'), /fleet.json is not JSON/);
});

test('redaction hides the token and the pass phrase, and nothing else', () => {
  const r = redactBoardSettings(parseBoardSettings(JSON.stringify(full)));
  assert.equal(r.token, '<redacted>');
  assert.equal(r.wifi?.passphrase, '<redacted>');
  assert.equal(r.wifi?.ssid, 'home');
  assert.deepEqual(r.managers, full.managers);
  assert.ok(!JSON.stringify(r).includes('SWMTKN'));
});

test('configure flags: comma lists of managers, and the flag at fault in an error', async () => {
  const s = await settingsFrom({ managers: ['a:1,b:2', 'c:3'], token: 't', labels: {} });
  assert.deepEqual(s.managers, ['a:1', 'b:2', 'c:3']);
  await assert.rejects(
    settingsFrom({ managers: ['a'], token: 't', labels: {} }),
    /^UsageError: --manager/,
  );
  await assert.rejects(
    settingsFrom({ managers: ['a:1'], token: 't', labels: {}, wifiSsid: 'x' }),
    /--wifi-ssid and --wifi-passphrase go together/,
  );
  await assert.rejects(settingsFrom({ managers: ['a:1'], token: '', labels: {} }), /--token/);
});

const MOUNTINFO = [
  '22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw',
  '23 22 0:21 / /proc rw - proc proc rw',
  '40 22 8:17 / /media/my\\040card rw - vfat /dev/sdb1 rw',
  '41 22 259:1 / /home rw - ext4 /dev/nvme0n1p1 rw',
].join('\n');

test('mountinfo: the root is the last mount on /, and escaped mount points are read back', () => {
  const mounts = parseMountinfo(MOUNTINFO);
  assert.equal(mounts.length, 4);
  assert.deepEqual(rootMount(mounts), {
    majMin: '8:2',
    mountPoint: '/',
    fsType: 'ext4',
    source: '/dev/sda2',
  });
  assert.equal(mounts[2]?.mountPoint, '/media/my card');
  const over = parseMountinfo(`${MOUNTINFO}\n50 1 0:30 / / rw - overlay overlay rw`);
  assert.equal(rootMount(over)?.majMin, '0:30');
});

test('device numbers decode as Linux encodes them', () => {
  assert.equal(majMinOf(0x0802), '8:2');
  assert.equal(majMinOf((259 << 8) | 1), '259:1');
  // Minor numbers above 255 keep their high bits above the major's.
  assert.equal(majMinOf(0x12300000 + (8 << 8) + 0x45), '8:74565');
});

test('the root disk and mounted disks are always refused; a fixed disk only without --yes-i-am-sure', () => {
  const disk = (name: string, removable: boolean): FlashTarget => ({
    kind: 'block',
    path: `/dev/${name}`,
    disk: name,
    removable,
    capacity: 1 << 30,
  });
  const ctx = { rootDisks: new Set(['sda']), mountedDisks: new Map([['sdb', '/media/card']]) };
  assert.match(refusals(disk('sda', true), ctx, true)[0] ?? '', /root file system/);
  assert.match(
    refusals(disk('sdb', true), ctx, true)[0] ?? '',
    /mounted file system at \/media\/card/,
  );
  assert.match(refusals(disk('sdc', false), ctx, false)[0] ?? '', /not a removable disk/);
  assert.deepEqual(refusals(disk('sdc', false), ctx, true), []);
  assert.deepEqual(refusals(disk('sdd', true), ctx, false), []);
  assert.deepEqual(refusals({ kind: 'file', path: '/tmp/x' }, ctx, false), []);
});

test('compression is told by the extension; progress reads in binary units', () => {
  assert.equal(compressionOf('a.img.xz'), 'xz');
  assert.equal(compressionOf('a.img.zst'), 'zstd');
  assert.equal(compressionOf('a.img'), null);
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(
    formatProgress('written', 100 * 1024 * 1024, 400 * 1024 * 1024, 4000),
    'written 100.0 MiB of 400.0 MiB (25%), 25.0 MiB/s',
  );
  assert.equal(formatProgress('written', 2048, null, 0), 'written 2.0 KiB');
});
