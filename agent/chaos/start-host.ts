// The ChaosHost of `fleet agent start`: stops and starts the Agent in place, and runs the engine-restart command.
import { spawn } from 'node:child_process';
import type { AgentFault } from '../../shared/chaos.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import type { Agent } from '../reconcile/agent.js';
import { AgentChaos } from './agent-chaos.js';
import type { ChaosHost } from './host.js';

export interface AgentHostDeps {
  /** Makes and starts an Agent that takes its orders through `chaos` (a fresh runtime each time). */
  make: (chaos: AgentChaos) => Promise<Agent>;
  allow: boolean;
  /** --chaos-engine-restart: a shell command that restarts the container engine. */
  engineRestart?: string;
  identity: Pick<Identity, 'id' | 'rootPub'>;
  dataDir: string;
  logger: Logger;
  clock?: Clock;
}

/** What the agent command holds: the agent running now, whichever incarnation it is. */
export interface RunningAgent {
  readonly nodeId: string;
  readonly store: Agent['store'];
  kick(): void;
  removeAllWorkloads(): Promise<void>;
  stop(): Promise<void>;
}

export class AgentHost implements ChaosHost, RunningAgent {
  readonly chaos: AgentChaos;
  private current: Agent | null = null;
  /** The agent last started: its store stands in while the agent is down. */
  private latest!: Agent;
  private cycle: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly clock: Clock;
  /** Resolves when stop() is called: a wait for the end of a fault is cut short. */
  private readonly stopping: Promise<void>;
  private markStopping: () => void = () => undefined;

  private constructor(private readonly d: AgentHostDeps) {
    this.clock = d.clock ?? systemClock;
    this.stopping = new Promise((resolve) => (this.markStopping = resolve));
    this.chaos = new AgentChaos({
      allow: d.allow,
      host: this,
      identity: d.identity,
      dataDir: d.dataDir,
      logger: d.logger.child('chaos'),
      clock: this.clock,
    });
  }

  static async start(d: AgentHostDeps): Promise<AgentHost> {
    const host = new AgentHost(d);
    host.current = host.latest = await d.make(host.chaos);
    return host;
  }

  get nodeId(): string {
    return this.d.identity.id;
  }

  get store(): Agent['store'] {
    return this.latest.store;
  }

  kick(): void {
    this.current?.kick();
  }

  async removeAllWorkloads(): Promise<void> {
    await this.cycle;
    await this.current?.removeAllWorkloads();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.markStopping();
    await this.cycle;
    await this.chaos.close();
    await this.current?.stop();
    this.current = null;
  }

  restartAgent(hard: boolean, downMs: number): void {
    this.cycle = this.cycle.then(() => this.restart(hard, downMs));
  }

  restartEngine(downMs: number): Promise<void> {
    const cmd = this.d.engineRestart;
    if (!cmd) return Promise.reject(new Error(NO_ENGINE_COMMAND));
    return runShell(cmd, { ...process.env, FLEET_CHAOS_DOWN_MS: String(downMs) });
  }

  refuses(fault: AgentFault): string | null {
    return fault === 'restart-engine' && !this.d.engineRestart ? NO_ENGINE_COMMAND : null;
  }

  private async restart(hard: boolean, downMs: number): Promise<void> {
    const old = this.current;
    if (!old || this.stopped) return;
    const { logger } = this.d;
    // A crash says no goodbye: the manager hears of it from the broker's will.
    if (hard) this.chaos.dropLink();
    this.current = null;
    await old.stop();
    logger.warn('fault order: agent stopped', { hard, downMs });
    await Promise.race([this.clock.sleep(downMs), this.stopping]);
    if (this.stopped) return;
    try {
      this.current = this.latest = await this.d.make(this.chaos);
      logger.warn('fault undone: agent started again');
    } catch (e) {
      logger.error('the agent could not start again after a fault order', { error: String(e) });
      process.exitCode = 1;
    }
  }
}

const NO_ENGINE_COMMAND =
  'this agent cannot restart its engine: start it with --chaos-engine-restart CMD';

/** Runs `/bin/sh -c cmd`; rejects with its exit status and the end of its stderr. */
function runShell(cmd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', cmd], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-500)));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new Error(`the engine restart command failed (${signal ?? code}): ${err.trim()}`));
    });
  });
}
