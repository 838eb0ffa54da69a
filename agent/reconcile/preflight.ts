// Pre-flight: before a task is pulled or started, the node checks it has the memory and disk for it.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { parseBytes } from '../../shared/spec.js';
import { TaskRejectedError, type Runtime } from '../runtime/types.js';

/** What the agent keeps free on the runtime's disk unless --min-free-disk says otherwise. */
export const DEFAULT_MIN_FREE_DISK = '256M';

/** How much disk a node keeps free: a size, or a share of the disk. */
export type DiskReserve = { bytes: number } | { percent: number };

/** Parses --min-free-disk: a size (256M, 1.5G, 0) or a percentage of the disk (5%). */
export function parseDiskReserve(text: string): DiskReserve | null {
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim());
  if (pct?.[1] !== undefined) {
    const percent = Number(pct[1]);
    return percent <= 100 ? { percent } : null;
  }
  const bytes = parseBytes(text);
  return bytes === null ? null : { bytes };
}

/** The numbers one decision is made from, all in bytes. */
export interface PreflightFacts {
  /** The task's memory reservation (0: none). */
  memoryReserved: number;
  /** Memory the node can give right now, or null when it cannot tell. */
  memoryAvailable: number | null;
  /** The directory whose file system holds the runtime's images and containers. */
  diskPath: string;
  /** Free space there for unprivileged writers, or null when it cannot be read. */
  diskFree: number | null;
  /** What preparing the image adds: 0 when it is already local, null when unknown. */
  imageBytes: number | null;
  /** Space the node keeps free whatever its tasks need. */
  minFreeDisk: number;
}

/**
 * Why the task must not start here, or null when it fits. Memory: the reservation must fit in
 * the memory available now. Disk: what is free, less the image when its size is known, must not
 * fall below the node's reserve; the reserve also covers the container's writable layer and an
 * image whose size is unknown before the pull.
 */
export function preflightVerdict(f: PreflightFacts): string | null {
  if (f.memoryReserved > 0 && f.memoryAvailable !== null && f.memoryReserved > f.memoryAvailable) {
    return (
      `not enough memory: the task reserves ${formatBytes(f.memoryReserved)}, ` +
      `${formatBytes(f.memoryAvailable)} is available on this node`
    );
  }
  if (f.diskFree === null) return null;
  const image = f.imageBytes ?? 0;
  if (f.diskFree - image >= f.minFreeDisk) return null;
  const free = `${formatBytes(f.diskFree)} free on ${f.diskPath}`;
  const keeps = `the node keeps ${formatBytes(f.minFreeDisk)} free`;
  if (f.imageBytes === null)
    return `not enough disk: ${free} and ${keeps} (the image is not local and its size is unknown before the pull)`;
  if (f.imageBytes === 0) return `not enough disk: ${free} and ${keeps}`;
  return `not enough disk: ${free}, the image needs ${formatBytes(image)} and ${keeps}`;
}

/** 180 MiB, 1.5 GiB, 512 KiB, 100 B: binary units, as --reserve-memory reads them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = i === 0 || v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
  return `${text} ${units[i] ?? 'B'}`;
}

export interface DiskStats {
  /** Bytes free for unprivileged writers. */
  free: number;
  total: number;
}

export interface PreflightOptions {
  runtime: Runtime;
  reserve: DiskReserve;
  logger: Logger;
  /** Where the runtime keeps its data when it does not say itself (the process runtime). */
  fallbackDir: string;
  /** Reads the file system's free space; tests give a fake one. */
  statfs?: (dir: string) => Promise<DiskStats>;
  /** Reads the memory available now, or null; tests give a fake one. */
  memoryAvailable?: () => Promise<number | null>;
}

/** Checks tasks against the node's memory and disk; throws TaskRejectedError when one cannot fit. */
export class Preflight {
  private readonly statfs: (dir: string) => Promise<DiskStats>;
  private readonly memoryAvailable: () => Promise<number | null>;
  /** Unreadable disk stats are logged once per path, not on every task. */
  private readonly warned = new Set<string>();

  constructor(private readonly opts: PreflightOptions) {
    this.statfs = opts.statfs ?? statfsNearest;
    this.memoryAvailable = opts.memoryAvailable ?? readMemAvailable;
  }

  async check(task: AssignedTask): Promise<void> {
    const reason = preflightVerdict(await this.facts(task));
    if (reason) throw new TaskRejectedError(reason, 'resources');
  }

  async facts(task: AssignedTask): Promise<PreflightFacts> {
    const { runtime } = this.opts;
    const storage = runtime.storage
      ? await runtime.storage(task.template.image)
      : { path: this.opts.fallbackDir, imageBytes: 0 };
    let disk: DiskStats | null = null;
    try {
      disk = await this.statfs(storage.path);
    } catch (e) {
      if (!this.warned.has(storage.path)) {
        this.warned.add(storage.path);
        this.opts.logger.warn('cannot read free disk space; the disk check is skipped', {
          path: storage.path,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
    const reserve = this.opts.reserve;
    const minFreeDisk =
      'bytes' in reserve ? reserve.bytes : Math.ceil(((disk?.total ?? 0) * reserve.percent) / 100);
    return {
      memoryReserved: task.template.resources.memoryBytes,
      memoryAvailable:
        task.template.resources.memoryBytes > 0 ? await this.memoryAvailable() : null,
      diskPath: storage.path,
      diskFree: disk?.free ?? null,
      imageBytes: storage.imageBytes,
      minFreeDisk,
    };
  }
}

/** statfs of the directory, or of its nearest existing parent (a data dir made on first use). */
async function statfsNearest(dir: string): Promise<DiskStats> {
  let at = path.resolve(dir);
  for (;;) {
    try {
      const s = await fs.statfs(at);
      return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    } catch (e) {
      const parent = path.dirname(at);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw e;
      at = parent;
    }
  }
}

/** MemAvailable from /proc/meminfo (Linux): free memory plus what the kernel can reclaim. */
async function readMemAvailable(): Promise<number | null> {
  try {
    const text = await fs.readFile('/proc/meminfo', 'utf8');
    const kb = /^MemAvailable:\s+(\d+)\s*kB/m.exec(text)?.[1];
    if (kb !== undefined) return Number(kb) * 1024;
  } catch {
    // not Linux: the platform's own figure below
  }
  return os.freemem();
}
