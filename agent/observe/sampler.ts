// Turns two readings of the board and its tasks into a usage summary: CPU as rates over the time between.
import type { Clock } from '../../shared/clock.js';
import type { TaskUsage, UsageSummary } from '../../shared/usage.js';
import type { WorkloadUsage } from '../runtime/types.js';
import type { BoardReading } from './board.js';
import { busyFraction, type CpuTimes } from './proc-parsers.js';

/** A task running now, as the runtime knows it. */
export interface RunningTask {
  taskId: string;
  runtimeId: string;
}

export interface SamplerDeps {
  clock: Clock;
  board(): Promise<BoardReading>;
  tasks(): RunningTask[];
  /** The runtime's counters of these workloads (absent: tasks are not reported). */
  usage?(runtimeIds: readonly string[]): Promise<WorkloadUsage[]>;
}

export interface Reading {
  at: number;
  cpu: CpuTimes | null;
  /** CPU seconds so far, by runtime id. */
  tasks: Map<string, number>;
}

/** At most this many tasks in one summary (the protocol's bound). */
const MAX_TASKS = 1000;

export class UsageSampler {
  private last: Reading | undefined;

  constructor(private readonly deps: SamplerDeps) {}

  /**
   * Reads the board and the tasks. The first call only takes a baseline and returns undefined:
   * CPU is a rate, and a rate needs two readings.
   */
  async sample(): Promise<UsageSummary | undefined> {
    const { deps } = this;
    const running = deps.tasks().slice(0, MAX_TASKS);
    const [board, workloads] = await Promise.all([
      deps.board(),
      deps.usage && running.length > 0
        ? deps.usage(running.map((t) => t.runtimeId))
        : Promise.resolve([]),
    ]);
    const at = deps.clock.now();
    const before = this.last;
    this.last = {
      at,
      cpu: board.cpu,
      tasks: new Map(workloads.map((w) => [w.runtimeId, w.cpuSeconds])),
    };
    if (!before) return undefined;
    return summarize(before, { board, workloads, running, at });
  }

  /** Forgets the baseline: the next summary starts from a fresh one. */
  reset(): void {
    this.last = undefined;
  }
}

/** The summary between a previous reading and this one. */
export function summarize(
  before: Reading,
  now: { board: BoardReading; workloads: WorkloadUsage[]; running: RunningTask[]; at: number },
): UsageSummary {
  const { board } = now;
  const seconds = Math.max(0.001, (now.at - before.at) / 1000);
  const byRuntime = new Map(now.workloads.map((w) => [w.runtimeId, w]));
  const tasks: TaskUsage[] = [];
  for (const t of now.running) {
    const w = byRuntime.get(t.runtimeId);
    if (!w) continue;
    const prev = before.tasks.get(t.runtimeId);
    // A task started since the last reading has no rate yet.
    const cpu = prev === undefined ? 0 : Math.max(0, w.cpuSeconds - prev) / seconds;
    tasks.push({ id: t.taskId, cpu: round3(cpu), mem: w.memBytes, rx: w.rxBytes, tx: w.txBytes });
  }
  const cpu = before.cpu && board.cpu ? busyFraction(before.cpu, board.cpu) : 0;
  return {
    at: now.at,
    node: {
      cpu: round3(cpu),
      memUsed: board.memUsed,
      memTotal: board.memTotal,
      diskUsed: board.diskUsed,
      diskTotal: board.diskTotal,
      ...(board.tempC !== undefined ? { tempC: board.tempC } : {}),
      ...(board.underVoltage !== undefined ? { underVoltage: board.underVoltage } : {}),
      ...(board.throttled !== undefined ? { throttled: board.throttled } : {}),
    },
    tasks,
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
