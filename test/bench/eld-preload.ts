// Preloaded into a benchmarked process (node --import): on SIGUSR2 writes its event-loop delay and memory figures to a file.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

/** Event-loop delay over the interval since the previous SIGUSR2 (or since start), in ms. */
export interface LoopDelay {
  pid: number;
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** process.memoryUsage() and the used bytes of each V8 heap space, for finding where RSS goes. */
  memory: NodeJS.MemoryUsage;
  heapSpaces: Record<string, { size: number; used: number }>;
}

const RESOLUTION_MS = 10;
const file = process.env.FLEET_BENCH_ELD_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  process.on('SIGUSR2', () => {
    // The histogram holds the time between the sampling timer's runs; the delay is what exceeds its period.
    const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
    const figures: LoopDelay = {
      pid: process.pid,
      count: h.count,
      meanMs: ms(h.mean),
      p50Ms: ms(h.percentile(50)),
      p99Ms: ms(h.percentile(99)),
      maxMs: ms(h.max),
      memory: process.memoryUsage(),
      heapSpaces: Object.fromEntries(
        getHeapSpaceStatistics().map((sp) => [
          sp.space_name,
          { size: sp.space_size, used: sp.space_used_size },
        ]),
      ),
    };
    writeFileSync(file, JSON.stringify(figures) + '\n');
    h.reset();
  });
}
