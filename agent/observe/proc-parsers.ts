// Pure parsers of the Linux /proc and /sys files that usage summaries are made from.

/** Jiffies the CPUs spent in all states, and idle (idle + iowait), from /proc/stat's "cpu" line. */
export interface CpuTimes {
  total: number;
  idle: number;
}

/** The first line of /proc/stat: every core together. */
export function parseProcStat(text: string): CpuTimes | null {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) return null;
  const n = line.trim().split(/\s+/).slice(1).map(Number);
  if (n.length < 4 || n.some((x) => !Number.isFinite(x))) return null;
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // counted in user and nice, so only the first eight add up to the total.
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  return { total, idle };
}

/** The share of CPU time busy between two readings of /proc/stat, in [0, 1]. */
export function busyFraction(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  const idle = after.idle - before.idle;
  if (total <= 0) return 0;
  return clamp01((total - idle) / total);
}

/** Memory in bytes from /proc/meminfo: used is what is not available (MemAvailable, kernel 3.14+). */
export function parseMeminfo(text: string): { total: number; used: number } | null {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (m?.[1] && m[2]) kb.set(m[1], Number(m[2]));
  }
  const total = kb.get('MemTotal');
  if (total === undefined) return null;
  const free = kb.get('MemFree') ?? 0;
  const available =
    kb.get('MemAvailable') ?? free + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  return { total: total * 1024, used: Math.max(0, total - available) * 1024 };
}

/** The fields of /proc/<pid>/stat a usage summary needs, in clock ticks and pages. */
export interface PidStat {
  pid: number;
  /** Process group: a process-runtime task is the group its first process leads. */
  pgrp: number;
  /** utime + stime, in clock ticks (USER_HZ). */
  cpuTicks: number;
  rssPages: number;
}

export function parsePidStat(text: string): PidStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  // After the command name: field 3 (state) onwards; man 5 proc numbers fields from 1.
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const at = (field: number): number => Number(f[field - 3]);
  const stat = { pid, pgrp: at(5), cpuTicks: at(14) + at(15), rssPages: at(24) };
  return Object.values(stat).every(Number.isFinite) ? stat : null;
}

/** Bytes received and sent on every interface but loopback, from /proc/<pid>/net/dev. */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === 'lo' || name.includes('|')) continue;
    const n = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit: bytes …
    if (Number.isFinite(n[0]) && Number.isFinite(n[8])) {
      rx += n[0] ?? 0;
      tx += n[8] ?? 0;
    }
  }
  return { rx, tx };
}

/** A thermal zone's temp file: millidegrees Celsius. */
export function parseThermal(text: string): number | null {
  const t = Number(text.trim());
  if (!Number.isFinite(t) || text.trim() === '') return null;
  // Some drivers report -273 °C or absurd values for a zone without a sensor.
  const c = t / 1000;
  return c > -100 && c < 250 ? Math.round(c * 10) / 10 : null;
}

/**
 * The Raspberry Pi firmware's get_throttled bits (hex, e.g. "0x50005"): bit 0 under-voltage
 * now, bit 2 throttled now; bits 16 and 18 say the same happened since boot (not reported).
 */
export function parseThrottled(text: string): { underVoltage: boolean; throttled: boolean } | null {
  const s = text.trim();
  if (!/^(0x)?[0-9a-f]+$/i.test(s)) return null;
  const bits = parseInt(s, 16);
  return { underVoltage: (bits & 0x1) !== 0, throttled: (bits & 0x4) !== 0 };
}

/** An hwmon alarm file (in0_lcrit_alarm on the Pi 4 and later): "1" while the supply is low. */
export function parseAlarm(text: string): boolean | null {
  const s = text.trim();
  return s === '1' ? true : s === '0' ? false : null;
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/** Resident memory in bytes from /proc/<pid>/status (VmRSS), whatever the kernel's page size. */
export function parseVmRss(text: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s*kB/m.exec(text);
  return m?.[1] ? Number(m[1]) * 1024 : null;
}
