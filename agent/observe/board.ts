// Reads the board's own health (CPU times, memory, data disk, temperature, supply) from /proc and /sys.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  parseAlarm,
  parseMeminfo,
  parseProcStat,
  parseThermal,
  parseThrottled,
  type CpuTimes,
} from './proc-parsers.js';

/** File access the readers need, so tests hand them fixture text. */
export interface FileSource {
  /** The file's text, or undefined when it cannot be read. */
  read(file: string): Promise<string | undefined>;
  /** Names in a directory; empty when it cannot be listed. */
  list(dir: string): Promise<string[]>;
  /** Bytes in the filesystem holding dir, and how many are free; undefined when unknown. */
  statfs(dir: string): Promise<{ total: number; free: number } | undefined>;
}

/** Where the board's figures live; the defaults are Linux's and the Raspberry Pi's. */
export interface BoardPaths {
  procStat: string;
  meminfo: string;
  thermalDir: string;
  throttled: string;
  hwmonDir: string;
}

export const LINUX_PATHS: BoardPaths = {
  procStat: '/proc/stat',
  meminfo: '/proc/meminfo',
  thermalDir: '/sys/class/thermal',
  throttled: '/sys/devices/platform/soc/soc:firmware/get_throttled',
  hwmonDir: '/sys/class/hwmon',
};

/** One reading of the board: CPU as counters (a fraction needs two), the rest as they are. */
export interface BoardReading {
  cpu: CpuTimes | null;
  memUsed: number;
  memTotal: number;
  diskUsed: number;
  diskTotal: number;
  tempC?: number;
  underVoltage?: boolean;
  throttled?: boolean;
}

export const nodeFiles: FileSource = {
  read: (file) => fs.readFile(file, 'utf8').catch(() => undefined),
  list: (dir) => fs.readdir(dir).catch(() => []),
  async statfs(dir) {
    const s = await fs.statfs(dir).catch(() => undefined);
    return s ? { total: s.blocks * s.bsize, free: s.bavail * s.bsize } : undefined;
  },
};

export async function readBoard(
  files: FileSource,
  dataDir: string,
  paths: BoardPaths = LINUX_PATHS,
): Promise<BoardReading> {
  const [stat, mem, disk, tempC, supply] = await Promise.all([
    files.read(paths.procStat),
    files.read(paths.meminfo),
    files.statfs(dataDir),
    hottestZone(files, paths.thermalDir),
    readSupply(files, paths),
  ]);
  const memory = mem === undefined ? null : parseMeminfo(mem);
  const reading: BoardReading = {
    cpu: stat === undefined ? null : parseProcStat(stat),
    memUsed: memory?.used ?? 0,
    memTotal: memory?.total ?? 0,
    // Used as df counts it: what is not free to an unprivileged writer.
    diskUsed: disk ? Math.max(0, disk.total - disk.free) : 0,
    diskTotal: disk?.total ?? 0,
    ...supply,
  };
  if (tempC !== null) reading.tempC = tempC;
  return reading;
}

/** The highest temperature of the thermal zones, or null without any. */
async function hottestZone(files: FileSource, dir: string): Promise<number | null> {
  const zones = (await files.list(dir)).filter((n) => n.startsWith('thermal_zone'));
  const temps = await Promise.all(
    zones.map(async (z) => {
      const text = await files.read(path.join(dir, z, 'temp'));
      return text === undefined ? null : parseThermal(text);
    }),
  );
  const known = temps.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.max(...known) : null;
}

/** Under-voltage and throttling from the Pi firmware, else an hwmon low-voltage alarm. */
async function readSupply(
  files: FileSource,
  paths: BoardPaths,
): Promise<{ underVoltage?: boolean; throttled?: boolean }> {
  const fw = await files.read(paths.throttled);
  const bits = fw === undefined ? null : parseThrottled(fw);
  if (bits) return bits;
  for (const hw of await files.list(paths.hwmonDir)) {
    const text = await files.read(path.join(paths.hwmonDir, hw, 'in0_lcrit_alarm'));
    const alarm = text === undefined ? null : parseAlarm(text);
    if (alarm !== null) return { underVoltage: alarm };
  }
  return {};
}
