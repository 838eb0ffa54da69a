// Draining a task before it stops: it leaves the routing table first, then its open connections get time to finish.
import type { Logger } from '../shared/log.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, type TaskTemplate } from '../shared/spec.js';
import type { ObservedWorkload, Runtime } from './runtime/types.js';

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
  /** Called when a drain has ended, so the stop can go ahead. */
  onDrained(runtimeId: string): void;
}

/**
 * Tracks the drains in progress, by workload. A drain runs beside the agent's reconcile passes
 * (which must not wait for it): the pass that wants the workload gone starts it, and the pass
 * after it ends stops the workload.
 */
export class Drainer {
  private readonly state = new Map<string, 'draining' | 'drained'>();
  private closed = false;

  constructor(private readonly deps: DrainDeps) {}

  /**
   * True when the workload may be stopped now: it serves no TCP port, its template asks for no
   * drain, or its drain has ended. Otherwise starts the drain (once) and returns false.
   */
  ready(w: ObservedWorkload, template: TaskTemplate | undefined): boolean {
    const timeoutMs = template?.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    const tcp = w.hostPorts.filter((p) => p.protocol === 'tcp');
    if (!w.running || tcp.length === 0 || timeoutMs === 0) return true;
    const s = this.state.get(w.runtimeId);
    if (s === 'drained') return true;
    if (s === undefined) {
      this.state.set(w.runtimeId, 'draining');
      void this.drain(w, timeoutMs).finally(() => {
        if (this.closed || !this.state.has(w.runtimeId)) return;
        this.state.set(w.runtimeId, 'drained');
        this.deps.onDrained(w.runtimeId);
      });
    }
    return false;
  }

  /** True while the workload's drain runs. */
  busy(runtimeId: string): boolean {
    return this.state.get(runtimeId) === 'draining';
  }

  /** The workload is gone: its entry goes too. */
  forget(runtimeId: string): void {
    this.state.delete(runtimeId);
  }

  close(): void {
    this.closed = true;
    this.state.clear();
  }

  private async drain(w: ObservedWorkload, timeoutMs: number): Promise<void> {
    const { runtime, logger } = this.deps;
    const started = Date.now();
    const deadline = started + timeoutMs;
    // No new connections first: the table without the task reaches this node (and the others).
    const tableBy = Math.min(deadline, started + TABLE_WAIT_MS);
    while (this.deps.routes(w.taskId) && Date.now() < tableBy && !this.closed) await sleep(POLL_MS);
    await sleep(Math.min(SETTLE_MS, Math.max(0, deadline - Date.now())));
    let open: number | null = 0;
    while (!this.closed) {
      open = await runtime.openConnections(w.runtimeId, w.hostPorts).catch(() => null);
      if (open === null || open === 0 || Date.now() >= deadline) break;
      await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
    }
    const fields = { taskId: w.taskId, ms: Date.now() - started };
    if (open === null) logger.debug('drained without connection counts', fields);
    else if (open > 0)
      logger.info('drain timeout: stopping with connections still open', { ...fields, open });
    else logger.debug('drained', fields);
  }
}

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    t.unref();
  });
