// The upgrade supervisor: a small parent that runs the committed agent release, trials a new one and falls back.
import { holdProcessOpen, type TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { SupervisorOptions } from './supervisor-options.js';
export type { SupervisorOptions, SupervisorPoint } from './supervisor-options.js';
import type { ChildMessage } from './ipc.js';
import { OTA_CHILD_ENV, OTA_RELEASE_ENV, OTA_TRIAL_ENV } from './ipc.js';
import {
  FACTORY,
  beginSwitch,
  commitTrial,
  demoteCurrent,
  fallBack,
  recoverAtStart,
  releasesInUse,
  startTrial,
  type OtaState,
} from './ota-state.js';
import { loadState, removeStaleStateTemps, saveState } from './ota-state-file.js';
import {
  describeExit,
  leftoverChild,
  recordChild,
  ReleaseProcess,
  stopLeftover,
  type Exit,
} from './release-process.js';
import { removeUnusedReleases, verifyStaged } from './stage.js';
import { EventQueue } from './event-queue.js';

type Event =
  | { kind: 'message'; msg: ChildMessage }
  | { kind: 'exit'; exit: Exit }
  | { kind: 'deadline' }
  | { kind: 'wake' }
  | { kind: 'stop' };

interface Target {
  name: string;
  bundle: string;
}

const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long before it crashed restarts without waiting. */
const STABLE_MS = 60_000;
const TRIAL_KILL_GRACE_MS = 5_000;

/**
 * What the watchdog trusts: only this code (the bundle the board was installed with, which an
 * upgrade never replaces), state.json, and the root key in identity.json. A new release is only
 * ever a child process: it is committed when it says {type:'healthy'} within the monitor period,
 * and anything else it does (exit, hang, crash, say nothing, lie about being unhealthy) ends in
 * the previous release. Every decision is persisted before it is acted on.
 */
export class Supervisor {
  private state: OtaState = { v: 1, current: FACTORY };
  private queue = new EventQueue<Event>();
  private stopSignal: NodeJS.Signals | undefined;
  private exitCode = 0;
  private backoffMs = 0;
  private readonly log: Logger;
  private readonly grace: number;

  constructor(private readonly o: SupervisorOptions) {
    this.log = o.logger;
    this.grace = o.stopGraceMs ?? 30_000;
  }

  /** Stops the running release with this signal (its normal stop: tasks keep running), then run() ends. */
  stop(signal: NodeJS.Signals): void {
    if (this.stopSignal === undefined) this.log.info('stopping', { signal });
    this.stopSignal ??= signal;
    this.queue.push({ kind: 'stop' });
  }

  /** Runs until stop(); resolves with the exit code of the last release. */
  async run(): Promise<number> {
    const release = holdProcessOpen();
    try {
      const leftover = leftoverChild(this.o.dataDir);
      if (leftover !== undefined) {
        this.log.warn('stopping the agent a previous supervisor left running', { pid: leftover });
        await stopLeftover(leftover, this.grace, this.o.clock);
      }
      this.load();
      while (this.stopSignal === undefined) await this.step();
    } finally {
      release();
    }
    this.log.info('stopped', { exitCode: this.exitCode });
    return this.exitCode;
  }

  private load(): void {
    removeStaleStateTemps(this.o.dataDir);
    const { state, damaged } = loadState(this.o.dataDir);
    if (damaged)
      this.log.error('upgrade state unreadable; running the factory release', { damaged });
    const recovered = recoverAtStart(state, this.o.clock.now());
    if (recovered !== state) {
      this.log.warn('a trial never committed; back to the previous release', {
        reason: recovered.lastFailure?.reason,
      });
      this.save(recovered);
    } else this.state = state;
  }

  private async step(): Promise<void> {
    const trial = this.state.trial;
    if (trial && !trial.started) return this.runTrial(trial.version);
    const target = await this.resolve(this.state.current).catch((e: Error) => {
      this.log.error('the committed release cannot run; going back', {
        release: this.state.current,
        error: e.message,
      });
      this.save(demoteCurrent(this.state, e.message, this.o.clock.now()));
      return undefined;
    });
    if (!target) return;
    const started = this.o.clock.now();
    const exit = await this.runChild(target, false);
    if (exit && this.stopSignal === undefined)
      await this.backoff(this.o.clock.now() - started, exit);
  }

  /** The switch was persisted and the old release has stopped: run the new one on trial. */
  private async runTrial(version: string): Promise<void> {
    const target = await this.resolve(version).catch((e: Error) => {
      this.save(
        fallBack(
          this.state,
          `release ${version} does not verify: ${e.message}`,
          this.o.clock.now(),
        ),
      );
      return undefined;
    });
    if (!target) return;
    this.save(startTrial(this.state, this.o.clock.now(), this.o.monitorMs));
    this.o.at?.('trial-started');
    this.log.info('trial of a new release', {
      release: version,
      from: this.state.current,
      monitorMs: this.o.monitorMs,
    });
    await this.runChild(target, true);
  }

  /** Runs one release until it exits or is stopped; returns its exit when it died by itself. */
  private async runChild(target: Target, trial: boolean): Promise<Exit | undefined> {
    const q = (this.queue = new EventQueue<Event>());
    if (this.stopSignal !== undefined) return undefined;
    const child = this.spawn(target, trial, q);
    let deadline: TimerHandle | undefined;
    const due = this.state.trial?.deadline;
    if (trial && due !== undefined)
      deadline = this.o.clock.setTimeout(
        () => q.push({ kind: 'deadline' }),
        Math.max(0, due - this.o.clock.now()),
      );
    try {
      let onTrial = trial;
      for (;;) {
        const e = await q.next();
        if (e.kind === 'stop') {
          this.exitCode = exitCodeOf(
            await child.stop(this.stopSignal ?? 'SIGTERM', this.grace, this.o.clock),
          );
          return undefined;
        }
        if (onTrial) {
          const outcome = await this.onTrialEvent(e, child, target);
          if (outcome === 'committed') onTrial = false;
          if (outcome === 'ended') return undefined;
        } else if (await this.onCommittedEvent(e, child))
          return e.kind === 'exit' ? e.exit : undefined;
      }
    } finally {
      if (deadline) this.o.clock.clearTimeout(deadline);
    }
  }

  private async onTrialEvent(
    e: Event,
    child: ReleaseProcess,
    target: Target,
  ): Promise<'committed' | 'ended' | 'go-on'> {
    const failWith = async (reason: string): Promise<'ended'> => {
      this.log.error('the new release failed its trial; going back', {
        release: target.name,
        reason,
      });
      this.save(fallBack(this.state, reason, this.o.clock.now()));
      await child.stop('SIGTERM', Math.min(this.grace, TRIAL_KILL_GRACE_MS), this.o.clock);
      return 'ended';
    };
    if (e.kind === 'exit')
      return failWith(`release ${target.name} ${describeExit(e.exit)} before it reported healthy`);
    if (e.kind === 'deadline')
      return failWith(
        `release ${target.name} did not report healthy within ${this.o.monitorMs} ms`,
      );
    if (e.kind !== 'message') return 'go-on';
    if (e.msg.type === 'self-check-failed')
      return failWith(`release ${target.name} failed its self-check: ${e.msg.reason}`);
    if (e.msg.type !== 'healthy') {
      child.send({
        type: 'switch-result',
        version: e.msg.version,
        ok: false,
        reason: 'a trial is under way',
      });
      return 'go-on';
    }
    this.o.at?.('healthy-received');
    this.save(commitTrial(this.state, this.o.clock.now()));
    this.o.at?.('committed');
    this.log.info('new release committed', { release: target.name, previous: this.state.previous });
    child.send({ type: 'committed', version: target.name });
    const gone = await removeUnusedReleases(this.o.dataDir, releasesInUse(this.state));
    if (gone.length > 0) this.log.info('removed releases no longer needed', { releases: gone });
    return 'committed';
  }

  /** Returns true when the child is gone (exited, or stopped for a switch). */
  private async onCommittedEvent(e: Event, child: ReleaseProcess): Promise<boolean> {
    if (e.kind === 'exit') {
      this.log.warn('the agent stopped; restarting it', {
        release: this.state.current,
        how: describeExit(e.exit),
      });
      return true;
    }
    if (e.kind !== 'message' || e.msg.type !== 'switch') return false;
    const version = e.msg.version;
    const refused = await this.checkSwitch(version);
    if (refused) {
      this.log.warn('switch refused', { release: version, reason: refused });
      child.send({ type: 'switch-result', version, ok: false, reason: refused });
      return false;
    }
    // Decided and persisted before anyone is told or anything stops.
    this.save(beginSwitch(this.state, version));
    this.o.at?.('switch-decided');
    child.send({ type: 'switch-result', version, ok: true });
    this.log.info('switching releases: stopping the running agent', {
      from: this.state.current,
      to: version,
    });
    await child.stop('SIGTERM', this.grace, this.o.clock);
    this.o.at?.('old-stopped');
    return true;
  }

  /** Why a switch cannot happen, or undefined when the staged release verifies. */
  private async checkSwitch(version: string): Promise<string | undefined> {
    if (version === this.state.current) return `release ${version} is already running`;
    return this.resolve(version).then(
      () => undefined,
      (e: Error) => e.message,
    );
  }

  private spawn(target: Target, trial: boolean, q: EventQueue<Event>): ReleaseProcess {
    const child = new ReleaseProcess({
      bundle: target.bundle,
      nodeFlags: this.o.nodeFlags,
      args: this.o.args,
      env: {
        ...process.env,
        [OTA_CHILD_ENV]: '1',
        [OTA_RELEASE_ENV]: target.name === FACTORY ? this.o.factory.version : target.name,
        [OTA_TRIAL_ENV]: trial ? '1' : '0',
      },
      onMessage: (msg) => q.push({ kind: 'message', msg }),
      onBadMessage: (why) => this.log.warn('dropped a message from the agent', { why }),
      onExit: (exit) => q.push({ kind: 'exit', exit }),
    });
    recordChild(this.o.dataDir, child.pid, target.bundle);
    if (trial) this.o.at?.('trial-spawned');
    return child;
  }

  /** A committed release that keeps crashing restarts after 1 s, 2 s, 4 s ... 30 s. */
  private async backoff(ranMs: number, exit: Exit): Promise<void> {
    this.backoffMs =
      ranMs >= STABLE_MS
        ? 0
        : Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2));
    if (this.backoffMs === 0) return;
    this.log.info('waiting before the restart', { ms: this.backoffMs, last: describeExit(exit) });
    const q = (this.queue = new EventQueue<Event>());
    if (this.stopSignal !== undefined) return; // a stop that came before this queue existed
    const t = this.o.clock.setTimeout(() => q.push({ kind: 'wake' }), this.backoffMs);
    await q.next();
    this.o.clock.clearTimeout(t);
  }

  /** Where a release's bundle is, after checking it against the root key (the factory one is trusted). */
  private async resolve(name: string): Promise<Target> {
    if (name === FACTORY) return { name, bundle: this.o.factory.bundle };
    const rootPub = await this.o.rootPub();
    if (!rootPub) throw new Error('this board has no root key yet (it has not joined)');
    return { name, bundle: (await verifyStaged(this.o.dataDir, name, rootPub)).bundle };
  }

  private save(next: OtaState): void {
    saveState(this.o.dataDir, next, this.o.at);
    this.state = next;
  }
}

function exitCodeOf(e: Exit): number {
  return e.code ?? (e.signal === 'SIGTERM' || e.signal === 'SIGINT' ? 0 : 1);
}
