// Draining a task before it stops: it leaves the routing table first, then its open connections get time to finish.
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, type TaskTemplate } from '../../shared/spec.js';
import type { ObservedWorkload, Runtime } from '../runtime/types.js';

/** How long a drain waits for this node's routing table to drop the task. */
const TABLE_WAIT_MS = 2_000;
/** Then this long more, for the other nodes' copies of the same table. */
const SETTLE_MS = 250;
const POLL_MS = 200;

export interface DrainDeps {
  runtime: Runtime;
  /** Whether this node's routing table still sends new connections to the task. */
  routes(taskId: string): boolean;
  logger: Logger;
  clock: Clock;
}

/** Waits, before a workload is stopped, for its published TCP ports to go quiet. */
export class Drainer {
  private closed = false;

  constructor(private readonly deps: DrainDeps) {}

  /** Whether stopping the workload waits for a drain: it runs, serves TCP and asks for one. */
  needed(w: ObservedWorkload, template: TaskTemplate | undefined): boolean {
    return w.running && w.hostPorts.some((p) => p.protocol === 'tcp') && timeoutOf(template) > 0;
  }

  /**
   * Resolves once the task has left the routing table and serves no open connection, or at
   * its drain timeout; at once when no drain is needed or the agent is closing.
   */
  async drain(w: ObservedWorkload, template: TaskTemplate | undefined): Promise<void> {
    if (this.needed(w, template) && !this.closed) await this.wait(w, timeoutOf(template));
  }

  /**
   * Resolves once the routing tables no longer send new connections to the task (or after
   * TABLE_WAIT_MS), without waiting for its open connections: an unhealthy task's stop waits
   * this long, so that no new request reaches a task that is about to die.
   */
  async leaveTable(w: ObservedWorkload): Promise<void> {
    if (!w.running || w.hostPorts.length === 0 || this.closed) return;
    await this.waitForTable(w.taskId, this.deps.clock.now() + TABLE_WAIT_MS + SETTLE_MS);
  }

  close(): void {
    this.closed = true;
  }

  /** No new connections first: the table without the task reaches this node (and the others). */
  private async waitForTable(taskId: string, deadline: number): Promise<void> {
    const { clock } = this.deps;
    const tableBy = Math.min(deadline, clock.now() + TABLE_WAIT_MS);
    while (this.deps.routes(taskId) && clock.now() < tableBy && !this.closed)
      await clock.sleep(POLL_MS);
    await clock.sleep(Math.min(SETTLE_MS, Math.max(0, deadline - clock.now())));
  }

  private async wait(w: ObservedWorkload, timeoutMs: number): Promise<void> {
    const { runtime, logger, clock } = this.deps;
    const started = clock.now();
    const deadline = started + timeoutMs;
    await this.waitForTable(w.taskId, deadline);
    let open: number | null = 0;
    while (!this.closed) {
      open = await runtime.openConnections(w.runtimeId, w.hostPorts).catch(() => null);
      if (open === null || open === 0 || clock.now() >= deadline) break;
      await clock.sleep(Math.min(POLL_MS, Math.max(0, deadline - clock.now())));
    }
    const fields = { taskId: w.taskId, ms: clock.now() - started };
    if (open === null) logger.debug('drained without connection counts', fields);
    else if (open > 0)
      logger.info('drain timeout: stopping with connections still open', { ...fields, open });
    else logger.debug('drained', fields);
  }
}

const timeoutOf = (template: TaskTemplate | undefined): number =>
  template?.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
