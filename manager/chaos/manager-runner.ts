// Runs a Manager that a fault order may stop and start again in the same process (`manager start --allow-chaos`).
import { systemClock, type Clock } from '../../shared/clock.js';
import { Manager, type ManagerOptions, type StartReport } from '../manager.js';
import type { ManagerChaosHost } from './manager-faults.js';

/** How long a clean stop waits for another manager to take over the leadership. */
const HANDOVER_MS = 3_000;
/** While no manager runs, nothing else keeps the process alive: this timer does. */
const KEEP_ALIVE_MS = 3_600_000;
/** Between attempts to start again when one failed. */
const RETRY_MS = 2_000;

/** The manager now running, restarted in place by kill-manager and restart-manager. */
export class ManagerRunner implements ManagerChaosHost {
  private current: Manager | null = null;
  private restarting: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly removal: Promise<void>;
  private markRemoved: () => void = () => undefined;
  /** Resolves when stop() is called: a wait for the end of a fault is cut short. */
  private readonly stopping: Promise<void>;
  private markStopping: () => void = () => undefined;

  private constructor(private readonly opts: ManagerOptions) {
    this.removal = new Promise((resolve) => (this.markRemoved = resolve));
    this.stopping = new Promise((resolve) => (this.markStopping = resolve));
  }

  /** Starts the manager; with `allowChaos` it carries out fault orders aimed at it. */
  static async start(opts: ManagerOptions & { allowChaos: boolean }): Promise<ManagerRunner> {
    const { allowChaos, ...rest } = opts;
    const runner = new ManagerRunner(rest);
    await runner.launch(allowChaos);
    return runner;
  }

  get id(): string {
    return this.live().id;
  }

  /** The first start's report: tokens and addresses stay the same across restarts. */
  get report(): StartReport {
    return this.live().report;
  }

  /** Resolves when a committed change removed this manager from the cluster. */
  removed(): Promise<void> {
    return this.removal;
  }

  restart(hard: boolean, downMs: number): void {
    this.restarting = this.restarting.then(() => this.cycle(hard, downMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.markStopping();
    await this.restarting;
    const m = this.current;
    this.current = null;
    await m?.stop();
  }

  private live(): Manager {
    if (!this.current) throw new Error('the manager is stopped');
    return this.current;
  }

  private async launch(allowChaos: boolean): Promise<void> {
    const m = await Manager.start({ ...this.opts, chaos: { allow: allowChaos, host: this } });
    this.current = m;
    void m.removed().then(() => this.markRemoved());
  }

  /** One stop, the time down, and the start again with the same options. */
  private async cycle(hard: boolean, downMs: number): Promise<void> {
    const m = this.current;
    if (!m || this.stopped) return;
    const clock = this.opts.clock ?? systemClock;
    const log = this.opts.logger;
    const keepAlive = setInterval(() => undefined, KEEP_ALIVE_MS);
    try {
      if (!hard) await handOver(m, clock);
      this.current = null;
      await m.stop();
      log?.warn('fault order: manager stopped', { hard, downMs });
      await Promise.race([clock.sleep(downMs), this.stopping]);
      // Its port may take a moment to free: it tries again until it runs or is stopped.
      while (!this.stopped) {
        try {
          await this.launch(true);
          log?.warn('fault undone: manager started again');
          return;
        } catch (e) {
          process.stderr.write(`the manager could not start again: ${String(e)}; retrying\n`);
          await Promise.race([clock.sleep(RETRY_MS), this.stopping]);
        }
      }
    } finally {
      clearInterval(keepAlive);
    }
  }
}

/** A clean stop of a leader with peers: another reachable voter is asked to lead first. */
async function handOver(m: Manager, clock: Clock): Promise<void> {
  if (m.raft.leaderId !== m.id) return;
  const to = m.raft.status().conf.voters.find((v) => v !== m.id && m.transport.connected(v));
  if (!to) return;
  m.raft.transferLeadership(to);
  const deadline = clock.now() + HANDOVER_MS;
  while (m.raft.leaderId === m.id && clock.now() < deadline) await clock.sleep(50);
}
