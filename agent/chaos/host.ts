// What runs an agent, as the chaos handler sees it: the one part that can stop and start the agent as a whole.
import type { AgentFault } from '../../shared/chaos.js';

/**
 * Supplied by whatever started the Agent object (the `agent start` command, `fleet sim agents`).
 * The chaos handler inside the agent cannot restart the agent it lives in; it asks the host.
 */
export interface ChaosHost {
  /**
   * Stops this agent (hard: the connection dropped without a goodbye, as a crash would; soft:
   * a clean stop) and starts a new one from the same data dir and runtime after `downMs`.
   * Tasks are left running, as containers outlive a crashed agent.
   */
  restartAgent(hard: boolean, downMs: number): void;
  /**
   * Restarts the container engine: every task ends and the engine comes back after `downMs`.
   * Rejects with the reason when this host cannot (no command configured).
   */
  restartEngine(downMs: number): Promise<void>;
  /** Faults this host refuses outright, with the reason (e.g. fill-disk where boards share a disk). */
  refuses?(fault: AgentFault): string | null;
}
