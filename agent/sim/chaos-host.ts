// The chaos host of a simulated board: restarts its Agent object or its fake engine in place; refuses what boards sharing one machine cannot simulate.
import type { AgentFault } from '../../shared/chaos.js';
import type { Clock } from '../../shared/clock.js';
import type { ChaosHost } from '../chaos/host.js';
import type { FakeRuntime } from '../runtime/fake.js';

/** The part of a simulated board the host acts on. */
export interface RestartableBoard {
  /** Stops the running Agent object and starts a new one on the same runtime and data dir after downMs. */
  restartAgent(hard: boolean, downMs: number): Promise<void>;
}

export const FILL_DISK_REFUSAL = 'simulated boards share one disk: fill-disk is not simulated';

export class SimChaosHost implements ChaosHost {
  constructor(
    private readonly board: RestartableBoard,
    private readonly runtime: FakeRuntime,
    private readonly clock: Clock,
  ) {}

  /**
   * Deferred by one turn of the clock: the order that asks for it is handled inside the very
   * agent that stops, and its answer should leave first.
   */
  restartAgent(hard: boolean, downMs: number): void {
    this.clock.setTimeout(() => void this.board.restartAgent(hard, downMs), 0);
  }

  /** Every workload ends at once; the engine refuses starts until it is back, when this resolves. */
  async restartEngine(downMs: number): Promise<void> {
    this.runtime.crashAll(downMs);
    await this.clock.sleep(downMs);
  }

  refuses(fault: AgentFault): string | null {
    return fault === 'fill-disk' ? FILL_DISK_REFUSAL : null;
  }
}
