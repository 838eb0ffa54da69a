// The figures a fault order's target reports about its own process: memory, open files, CPU time.
import { promises as fs } from 'node:fs';
import type { ProcessStats } from './chaos.js';
import type { ActiveFault } from './chaos-guard.js';

/** This process's figures now; `now` is the target's own clock, skewed or not. */
export async function processStats(
  now: number,
  active: ActiveFault[],
  running?: string[],
): Promise<ProcessStats> {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    pid: process.pid,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    openFiles: await openFiles(),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    now,
    ...(running ? { running } : {}),
    active,
  };
}

/** Entries of /proc/self/fd; -1 where there is no /proc to count them in. */
async function openFiles(): Promise<number> {
  try {
    return (await fs.readdir('/proc/self/fd')).length;
  } catch {
    return -1;
  }
}
