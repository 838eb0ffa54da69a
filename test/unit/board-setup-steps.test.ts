// Board setup's steps on a made-up live board: the tools each runs (recorded, never run) to grow the root, name the host, start Wi-Fi.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../shared/clock.js';
import type { SetupContext } from '../../agent/board/context.js';
import { growRoot } from '../../agent/board/grow-root.js';
import { applyHostname } from '../../agent/board/hostname.js';
import { ToolError, type RunTool } from '../../agent/board/run-tool.js';
import { applySsh } from '../../agent/board/ssh.js';
import { applyWifi } from '../../agent/board/wifi.js';
import { fakeCard, putFile } from '../helpers/board-root.js';

type Call = [string, ...string[]];

/** A runner that records each call and answers from `answers` (a function of the call). */
function recorder(answer: (call: Call, input?: string) => string | Error = () => '') {
  const calls: Call[] = [];
  const run: RunTool = (cmd, args, input) => {
    const call: Call = [cmd, ...args];
    calls.push(call);
    const a = answer(call, input);
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  };
  return { calls, run };
}

async function liveBoard(partitionSectors: number, fsType = 'ext4') {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-live-'));
  await fakeCard(
    root,
    62_333_952,
    [
      { number: 1, start: 2048, size: 524288 },
      { number: 2, start: 526336, size: partitionSectors },
    ],
    2,
    fsType,
  );
  return root;
}

const context = (root: string, run: RunTool, settings: object = {}): SetupContext => ({
  root,
  live: true,
  settings: { version: 1, managers: ['10.0.0.2:8883'], labels: {}, ...settings },
  run,
  clock: new FakeClock(),
});

test('a small root partition is grown with sfdisk, the kernel told with partx, then resize2fs', async () => {
  const root = await liveBoard(2_097_152);
  const { calls, run } = recorder();
  const line = await growRoot(context(root, run));
  const disk = path.join(root, 'dev/mmcblk0');
  assert.deepEqual(calls, [
    ['sfdisk', '--no-reread', '--no-tell-kernel', '-N', '2', disk],
    ['partx', '-u', '--nr', '2', disk],
    ['resize2fs', path.join(root, 'dev/mmcblk0p2')],
  ]);
  assert.match(line, /^grew partition 2 of .*mmcblk0 by 29156 MiB; resized the ext4 file system/);
});

test('when partx cannot, resizepart tells the kernel the size sfdisk reads back', async () => {
  const root = await liveBoard(2_097_152);
  const disk = path.join(root, 'dev/mmcblk0');
  const table = {
    partitiontable: {
      label: 'dos',
      partitions: [{ node: `${disk}p2`, start: 526336, size: 61_807_616 }],
    },
  };
  const { calls, run } = recorder(([cmd, ...args]) => {
    if (cmd === 'partx') return new ToolError('partx: failed', false);
    if (cmd === 'sfdisk' && args[0] === '--json') return JSON.stringify(table);
    return '';
  });
  await growRoot(context(root, run));
  assert.deepEqual(calls.slice(1, 4), [
    ['partx', '-u', '--nr', '2', disk],
    ['sfdisk', '--json', disk],
    ['resizepart', disk, '2', '61807616'],
  ]);
});

test('a full partition grows only a smaller file system; other file systems are left alone', async () => {
  const full = 62_333_952 - 526336;
  const root = await liveBoard(full);
  const dump = (blocks: number) =>
    `Block count:              ${blocks}\nBlock size:               4096\n`;
  const small = recorder(([cmd]) => (cmd === 'dumpe2fs' ? dump(262144) : ''));
  assert.match(await growRoot(context(root, small.run)), /already fills the disk; resized/);
  assert.deepEqual(
    small.calls.map((c) => c[0]),
    ['dumpe2fs', 'resize2fs'],
  );
  const done = recorder(([cmd]) => (cmd === 'dumpe2fs' ? dump(Math.floor(full / 8)) : ''));
  assert.equal(
    await growRoot(context(root, done.run)),
    'nothing to do: partition 2 already fills the disk',
  );
  assert.deepEqual(
    done.calls.map((c) => c[0]),
    ['dumpe2fs'],
  );
  const btrfs = await liveBoard(2_097_152, 'btrfs');
  const b = recorder();
  assert.match(await growRoot(context(btrfs, b.run)), /; a btrfs root is not resized$/);
  assert.deepEqual(
    b.calls.map((c) => c[0]),
    ['sfdisk', 'partx'],
  );
});

test('on a live board the running host name is set with hostname, else hostnamectl', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-live-'));
  await putFile(root, 'etc/machine-id', 'feedfacecafe00000000000000000000\n');
  const { calls, run } = recorder();
  const line = await applyHostname(context(root, run, { hostname: 'rack-{serial}' }));
  assert.deepEqual(calls, [['hostname', 'rack-feedfacecafe']]);
  assert.match(line, /set \/etc\/hostname, \/etc\/hosts, the running host name$/);
  const noTool = recorder(([cmd]) => (cmd === 'hostname' ? new ToolError('missing', true) : ''));
  await applyHostname(context(root, noTool.run, { hostname: 'rack-{serial}' }));
  assert.deepEqual(noTool.calls, [
    ['hostname', 'rack-feedfacecafe'],
    ['hostnamectl', 'set-hostname', '--transient', 'rack-feedfacecafe'],
  ]);
});

test('on a live board ssh-keygen -A makes the keys in /etc/ssh, and Wi-Fi is started once when enabled', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-live-'));
  await putFile(root, 'etc/ssh/sshd_config', '');
  await putFile(root, 'lib/systemd/system/wpa_supplicant@.service', '[Unit]\n');
  const { calls, run } = recorder();
  const ctx = context(root, run, { wifi: { ssid: 'lab', passphrase: 'correct horse' } });
  assert.match(await applySsh(ctx), /^made host keys \(rsa, ecdsa, ed25519\); no authorized key$/);
  await applyWifi(ctx);
  await applyWifi(ctx);
  assert.deepEqual(calls, [
    ['ssh-keygen', '-A'],
    ['systemctl', 'start', '--no-block', 'wpa_supplicant@wlan0.service'],
  ]);
  await fs.rm(root, { recursive: true, force: true });
});
