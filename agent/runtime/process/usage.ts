// The process runtime's usage counters: each task's process group summed from /proc.
import { promises as fs } from 'node:fs';
import { parseNetDev, parsePidStat, parseVmRss, type PidStat } from '../../observe/proc-parsers.js';
import type { WorkloadUsage } from '../types.js';

/** USER_HZ: the unit of /proc's CPU times, 100 on every Linux architecture fleet runs on. */
const TICKS_PER_SECOND = 100;
/** Files read at once while scanning /proc. */
const READ_CONCURRENCY = 8;

/** A task's process: the leader of the group its commands run in. */
export interface TaskProcess {
  runtimeId: string;
  pid: number;
}

/** Sums CPU and memory over each task's process group; network only when it has its own. */
export async function processUsage(
  tasks: readonly TaskProcess[],
  proc = '/proc',
): Promise<WorkloadUsage[]> {
  if (tasks.length === 0) return [];
  const pids = (await fs.readdir(proc).catch(() => [])).filter((n) => /^\d+$/.test(n));
  const stats: PidStat[] = [];
  for (let i = 0; i < pids.length; i += READ_CONCURRENCY) {
    const batch = pids.slice(i, i + READ_CONCURRENCY);
    const read = await Promise.all(
      batch.map((p) => fs.readFile(`${proc}/${p}/stat`, 'utf8').catch(() => '')),
    );
    for (const text of read) {
      const s = parsePidStat(text);
      if (s) stats.push(s);
    }
  }
  const groups = groupStats(stats, tasks);
  const ownNet = await fs.readlink(`${proc}/self/ns/net`).catch(() => '');
  return Promise.all(
    tasks.flatMap((t) => {
      const members = groups.get(t.pid);
      return members ? [readGroup(t, members, proc, ownNet)] : [];
    }),
  );
}

/** Each task's processes by its group leader's pid; tasks whose leader is gone are left out. */
export function groupStats(
  stats: readonly PidStat[],
  tasks: readonly TaskProcess[],
): Map<number, PidStat[]> {
  const leaders = new Set(tasks.map((t) => t.pid));
  const groups = new Map<number, PidStat[]>();
  for (const s of stats) {
    if (!leaders.has(s.pgrp)) continue;
    groups.set(s.pgrp, [...(groups.get(s.pgrp) ?? []), s]);
  }
  return groups;
}

async function readGroup(
  t: TaskProcess,
  members: PidStat[],
  proc: string,
  ownNet: string,
): Promise<WorkloadUsage> {
  const ticks = members.reduce((a, s) => a + s.cpuTicks, 0);
  const rss = await Promise.all(
    members.map(async (s) => {
      const text = await fs.readFile(`${proc}/${s.pid}/status`, 'utf8').catch(() => '');
      return parseVmRss(text) ?? 0;
    }),
  );
  let net = { rx: 0, tx: 0 };
  // A process shares the host's network unless it made its own namespace: then it is its own.
  const ns = await fs.readlink(`${proc}/${t.pid}/ns/net`).catch(() => ownNet);
  if (ns !== ownNet) {
    const text = await fs.readFile(`${proc}/${t.pid}/net/dev`, 'utf8').catch(() => '');
    net = parseNetDev(text);
  }
  return {
    runtimeId: t.runtimeId,
    cpuSeconds: ticks / TICKS_PER_SECOND,
    memBytes: rss.reduce((a, b) => a + b, 0),
    rxBytes: net.rx,
    txBytes: net.tx,
  };
}
