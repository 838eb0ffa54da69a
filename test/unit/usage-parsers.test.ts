// The parsers of /proc and /sys files, the board reader and Docker's stats answer, fed fixture text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  busyFraction,
  parseAlarm,
  parseMeminfo,
  parseNetDev,
  parsePidStat,
  parseProcStat,
  parseThermal,
  parseThrottled,
  parseVmRss,
} from '../../agent/observe/proc-parsers.js';
import { LINUX_PATHS, readBoard, type FileSource } from '../../agent/observe/board.js';
import { groupStats } from '../../agent/runtime/process/usage.js';
import { parseDockerStats } from '../../agent/runtime/docker/usage.js';

const PROC_STAT = `cpu  4705 356 584 3699 23 23 0 0 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
intr 114930548 113199788 3 0 5 263 0 4 [... lots more numbers ...]
`;

test('/proc/stat: total and idle jiffies of all cores; guest time is not counted twice', () => {
  assert.deepEqual(parseProcStat(PROC_STAT), {
    total: 4705 + 356 + 584 + 3699 + 23 + 23,
    idle: 3722,
  });
  assert.equal(parseProcStat('intr 1 2 3\n'), null);
  assert.equal(parseProcStat('cpu  a b c d\n'), null);
});

test('busy fraction between two readings, within 0..1', () => {
  assert.equal(busyFraction({ total: 1000, idle: 800 }, { total: 1400, idle: 900 }), 0.75);
  assert.equal(busyFraction({ total: 1000, idle: 800 }, { total: 1000, idle: 800 }), 0);
});

test('/proc/meminfo: used is total less available, in bytes', () => {
  const text =
    'MemTotal:        3884200 kB\nMemFree:          200000 kB\nMemAvailable:    2884200 kB\nBuffers: 10 kB\n';
  assert.deepEqual(parseMeminfo(text), { total: 3884200 * 1024, used: 1_000_000 * 1024 });
  // Kernels before 3.14 have no MemAvailable: free + buffers + cached.
  const old = 'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 300 kB\n';
  assert.deepEqual(parseMeminfo(old), { total: 1000 * 1024, used: 500 * 1024 });
  assert.equal(parseMeminfo('nothing'), null);
});

test('/proc/<pid>/stat: group, CPU ticks and RSS, with spaces and parentheses in the name', () => {
  const text =
    '4242 (sh -c (x)) R 4240 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 12345 2453504 181 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n';
  assert.deepEqual(parsePidStat(text), { pid: 4242, pgrp: 4242, cpuTicks: 300, rssPages: 181 });
  assert.equal(parsePidStat('garbage'), null);
});

test('/proc/<pid>/status: VmRSS in bytes', () => {
  assert.equal(parseVmRss('Name:\tsh\nVmRSS:\t    1234 kB\n'), 1234 * 1024);
  assert.equal(parseVmRss('Name:\tkthreadd\n'), null);
});

test('/proc/<pid>/net/dev: bytes of every interface but loopback', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 123456     100    0    0    0     0          0         0    65432      90    0    0    0     0       0          0
 wlan0:    100       1    0    0    0     0          0         0       50       1    0    0    0     0       0          0
`;
  assert.deepEqual(parseNetDev(text), { rx: 123556, tx: 65482 });
  assert.deepEqual(parseNetDev(''), { rx: 0, tx: 0 });
});

test('thermal zones in millidegrees; nonsense is no reading', () => {
  assert.equal(parseThermal('48312\n'), 48.3);
  assert.equal(parseThermal('-273000'), null);
  assert.equal(parseThermal(''), null);
});

test('Raspberry Pi get_throttled: bit 0 under-voltage now, bit 2 throttled now', () => {
  assert.deepEqual(parseThrottled('0x0\n'), { underVoltage: false, throttled: false });
  assert.deepEqual(parseThrottled('0x50005'), { underVoltage: true, throttled: true });
  // Only "since boot" bits: nothing is wrong now.
  assert.deepEqual(parseThrottled('0x50000'), { underVoltage: false, throttled: false });
  assert.equal(parseThrottled('n/a'), null);
  assert.equal(parseAlarm('1\n'), true);
  assert.equal(parseAlarm('0'), false);
  assert.equal(parseAlarm(''), null);
});

function fixtureFiles(
  files: Record<string, string>,
  disk?: { total: number; free: number },
): FileSource {
  return {
    read: (f) => Promise.resolve(files[f]),
    list: (dir) => {
      const names = new Set<string>();
      for (const f of Object.keys(files))
        if (f.startsWith(dir + '/')) names.add(f.slice(dir.length + 1).split('/')[0] ?? '');
      return Promise.resolve([...names]);
    },
    statfs: () => Promise.resolve(disk),
  };
}

test('a Raspberry Pi board: hottest zone, firmware supply bits, disk of the data dir', async () => {
  const files = fixtureFiles(
    {
      '/proc/stat': PROC_STAT,
      '/proc/meminfo': 'MemTotal: 1000 kB\nMemAvailable: 400 kB\n',
      '/sys/class/thermal/thermal_zone0/temp': '51000',
      '/sys/class/thermal/thermal_zone1/temp': '62500',
      '/sys/class/thermal/cooling_device0/cur_state': '0',
      [LINUX_PATHS.throttled]: '0x50005',
    },
    { total: 32_000, free: 8_000 },
  );
  const b = await readBoard(files, '/var/lib/fleet');
  assert.equal(b.tempC, 62.5);
  assert.equal(b.underVoltage, true);
  assert.equal(b.throttled, true);
  assert.equal(b.memUsed, 600 * 1024);
  assert.deepEqual([b.diskUsed, b.diskTotal], [24_000, 32_000]);
  assert.ok(b.cpu);
});

test('a board without sensors: no temperature or supply figures; hwmon alarm when present', async () => {
  const bare = await readBoard(fixtureFiles({ '/proc/stat': PROC_STAT }), '/data');
  assert.equal(bare.tempC, undefined);
  assert.equal(bare.underVoltage, undefined);
  assert.deepEqual([bare.memTotal, bare.diskTotal], [0, 0]);
  const hw = await readBoard(
    fixtureFiles({ '/sys/class/hwmon/hwmon1/in0_lcrit_alarm': '1' }),
    '/d',
  );
  assert.equal(hw.underVoltage, true);
  assert.equal(hw.throttled, undefined);
  assert.equal(hw.cpu, null);
});

test("a process task's usage sums its process group; others are left out", () => {
  const stat = (pid: number, pgrp: number, cpuTicks: number) => ({
    pid,
    pgrp,
    cpuTicks,
    rssPages: 1,
  });
  const groups = groupStats(
    [stat(10, 10, 100), stat(11, 10, 50), stat(20, 20, 5), stat(30, 1, 999)],
    [
      { runtimeId: 'proc-a', pid: 10 },
      { runtimeId: 'proc-b', pid: 20 },
      { runtimeId: 'gone', pid: 40 },
    ],
  );
  assert.deepEqual(
    groups.get(10)?.map((s) => s.pid),
    [10, 11],
  );
  assert.deepEqual(
    groups.get(20)?.map((s) => s.pid),
    [20],
  );
  assert.equal(groups.has(40), false);
  assert.equal(groups.has(1), false);
});

test("Docker's stats answer: CPU seconds, memory without inactive page cache, network summed", () => {
  const raw = {
    cpu_stats: { cpu_usage: { total_usage: 2_500_000_000 } },
    memory_stats: { usage: 50_000_000, stats: { inactive_file: 10_000_000 } },
    networks: { eth0: { rx_bytes: 100, tx_bytes: 40 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
  };
  assert.deepEqual(parseDockerStats('c1', raw), {
    runtimeId: 'c1',
    cpuSeconds: 2.5,
    memBytes: 40_000_000,
    rxBytes: 101,
    txBytes: 42,
  });
  const v1 = { memory_stats: { usage: 100, stats: { total_inactive_file: 30 } } };
  assert.equal(parseDockerStats('c2', v1)?.memBytes, 70);
  assert.equal(parseDockerStats('c3', {}), null);
  assert.equal(parseDockerStats('c4', 'nope'), null);
});
