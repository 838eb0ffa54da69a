// Processes left running by an earlier agent run: polled for liveness, since no exit event will come for them.
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import { pidAlive } from './liveness.js';
import type { ProcessRecord } from './records.js';

const POLL_MS = 500;

export interface AdoptedOptions {
  clock: Clock;
  logger: Logger;
  /** Records and reports the end of an adopted process; called once per process. */
  exited: (rec: ProcessRecord) => Promise<void>;
}

export class AdoptedProcesses {
  private readonly byTask = new Map<string, ProcessRecord>();
  private poller: TimerHandle | null = null;

  constructor(private readonly opts: AdoptedOptions) {}

  add(rec: ProcessRecord): void {
    this.byTask.set(rec.taskId, rec);
  }

  has(taskId: string): boolean {
    return this.byTask.has(taskId);
  }

  forget(taskId: string): void {
    this.byTask.delete(taskId);
  }

  /** Reports an adopted process's end, once, whoever (poller or stop) sees it first. */
  async reportExit(rec: ProcessRecord): Promise<void> {
    if (!this.byTask.delete(rec.taskId)) return;
    await this.opts.exited(rec);
  }

  startPolling(): void {
    if (this.poller) return;
    let busy = false; // a slow round must not overlap the next one and report an exit twice
    this.poller = this.opts.clock.setInterval(() => {
      if (busy) return;
      busy = true;
      void this.poll()
        .catch((e: unknown) =>
          this.opts.logger.warn('liveness poll failed', { error: errorMessage(e) }),
        )
        .finally(() => (busy = false));
    }, POLL_MS);
  }

  stopPolling(): void {
    if (this.poller) this.opts.clock.clearInterval(this.poller);
    this.poller = null;
  }

  private async poll(): Promise<void> {
    for (const rec of [...this.byTask.values()]) {
      if (!pidAlive(rec.pid, rec.procStart)) await this.reportExit(rec);
    }
  }
}
