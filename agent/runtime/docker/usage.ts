// The Docker runtime's usage counters: one-shot stats from the engine, a few containers at a time.
import type Docker from 'dockerode';
import type { Clock } from '../../../shared/clock.js';
import { runLimited } from '../../../shared/limit.js';
import type { WorkloadUsage } from '../types.js';

/** Stats requests in flight at once: each makes the engine read a container's cgroup. */
const CONCURRENCY = 4;
/** A container whose stats take longer is left out of this summary. */
const TIMEOUT_MS = 3_000;

export async function dockerUsage(
  docker: Docker,
  runtimeIds: readonly string[],
  clock: Clock,
): Promise<WorkloadUsage[]> {
  const out: WorkloadUsage[] = [];
  await runLimited([...runtimeIds], CONCURRENCY, async (id) => {
    // one-shot (API 1.41+): no second reading a second later; older engines ignore it.
    const stats = docker
      .getContainer(id)
      .stats({ stream: false, 'one-shot': true })
      .catch(() => undefined);
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = clock.setTimeout(() => resolve(undefined), TIMEOUT_MS);
    });
    const raw: unknown = await Promise.race([stats, late]);
    if (timer) clock.clearTimeout(timer);
    const usage = parseDockerStats(id, raw);
    if (usage) out.push(usage);
  });
  return out;
}

/** The counters in one answer of the engine's stats API; null when it holds none. */
export function parseDockerStats(runtimeId: string, raw: unknown): WorkloadUsage | null {
  if (!isRecord(raw)) return null;
  const cpu = num(field(field(raw, 'cpu_stats'), 'cpu_usage'), 'total_usage');
  const memStats = field(raw, 'memory_stats');
  const mem = num(memStats, 'usage');
  if (cpu === null && mem === null) return null;
  // As `docker stats` shows it: page cache the kernel can drop does not count
  // (inactive_file on cgroup v2, total_inactive_file on v1).
  const inner = field(memStats, 'stats');
  const cache = num(inner, 'inactive_file') ?? num(inner, 'total_inactive_file') ?? 0;
  let rx = 0;
  let tx = 0;
  const networks = field(raw, 'networks');
  if (isRecord(networks))
    for (const n of Object.values(networks)) {
      rx += num(n, 'rx_bytes') ?? 0;
      tx += num(n, 'tx_bytes') ?? 0;
    }
  return {
    runtimeId,
    cpuSeconds: (cpu ?? 0) / 1e9,
    memBytes: Math.max(0, (mem ?? 0) - cache),
    rxBytes: rx,
    txBytes: tx,
  };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

function field(x: unknown, key: string): unknown {
  return isRecord(x) ? x[key] : undefined;
}

function num(x: unknown, key: string): number | null {
  const v = field(x, key);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
