// One simulated board: an identity joined once and kept in its data dir, a fake engine, and the Agent object that runs on them.
import { AgentChaos } from '../chaos/agent-chaos.js';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import type { Clock } from '../../shared/clock.js';
import { identitySchema, type Identity } from '../../shared/identity.js';
import { joinCluster } from '../../shared/join-client.js';
import type { Logger } from '../../shared/log.js';
import { Agent } from '../reconcile/agent.js';
import { FakeRuntime } from '../runtime/fake.js';
import { SimChaosHost, type RestartableBoard } from './chaos-host.js';

export interface BoardSetup {
  name: string;
  dataDir: string;
  address: string;
  /** Where the agent connects; empty: the managers its identity names. */
  managers: string[];
  token?: string;
  labels: Record<string, string>;
  insecure: boolean;
  allowChaos: boolean;
  clock: Clock;
  logger: Logger;
}

/** A board that cannot start: its message says what to do about it. */
export class SimBoardError extends Error {
  override readonly name = 'SimBoardError';
}

const JOIN_TIMEOUT_MS = 30_000;

export class SimBoard implements RestartableBoard {
  /** Outlives the Agent objects, as containers outlive a crashed agent. */
  readonly runtime: FakeRuntime;
  /** What this board's agents are given to carry out restarts through. */
  readonly chaosHost: SimChaosHost;
  private identity: Identity | undefined;
  private agent: Agent | undefined;
  /** Seen orders and faults in force outlive a restart of the board's agent. */
  private chaos: AgentChaos | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly setup: BoardSetup) {
    this.runtime = new FakeRuntime({ clock: setup.clock });
    this.chaosHost = new SimChaosHost(this, this.runtime, setup.clock);
  }

  get name(): string {
    return this.setup.name;
  }

  get nodeId(): string | undefined {
    return this.identity?.id;
  }

  get connected(): boolean {
    return this.agent?.connected === true;
  }

  /** Whether this board joined in an earlier run: its identity is in its data dir. */
  async hasIdentity(): Promise<boolean> {
    return fs.stat(this.identityFile()).then(
      () => true,
      () => false,
    );
  }

  /** Loads the identity an earlier run kept, or joins with the token and keeps the new one. */
  async identify(): Promise<'reused' | 'joined'> {
    await fs.mkdir(this.setup.dataDir, { recursive: true, mode: 0o700 });
    const kept = await this.keptIdentity();
    if (kept) {
      this.identity = kept;
      return 'reused';
    }
    const { token, managers } = this.setup;
    if (!token) throw new SimBoardError(`${this.name} has not joined yet: pass --token`);
    this.identity = await joinCluster({
      managers,
      token,
      name: this.name,
      address: this.setup.address,
      platform: await this.runtime.info(),
      labels: this.setup.labels,
      insecure: this.setup.insecure,
      clock: this.setup.clock,
      timeoutMs: JOIN_TIMEOUT_MS,
    });
    await writeFileAtomic(this.identityFile(), JSON.stringify(this.identity) + '\n');
    return 'joined';
  }

  /** Starts an Agent object on this board's runtime and data dir. */
  async start(): Promise<void> {
    if (this.stopped || this.agent || this.starting) return;
    this.starting = this.startAgent().finally(() => (this.starting = undefined));
    await this.starting;
  }

  /**
   * Agent.stop() drops the MQTT connection without a DISCONNECT, so the manager hears the
   * board's will either way: a clean restart differs from a crash only in that the agent
   * was not cut off mid-step. The workloads stay in the runtime and are found again.
   */
  async restartAgent(_hard: boolean, downMs: number): Promise<void> {
    const agent = this.agent;
    if (this.stopped || !agent) return;
    this.agent = undefined;
    await agent.stop();
    await this.setup.clock.sleep(downMs);
    if (!this.stopped) await this.start();
  }

  /** Stops the agent and removes every workload it ran: nothing of the board is left running. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => undefined);
    const agent = this.agent;
    this.agent = undefined;
    if (agent) {
      await agent.removeAllWorkloads();
      await agent.stop();
    }
    // A board stopped while its agent was down still had workloads; they go too.
    for (const id of [...this.runtime.workloads.keys()]) await this.runtime.remove(id);
    await this.chaos?.close();
    await this.runtime.close();
  }

  private async startAgent(): Promise<void> {
    // The agent renews its certificate into the data dir: a restarted one starts from that.
    const identity = (this.identity = (await this.keptIdentity()) ?? this.identity);
    if (!identity) throw new SimBoardError(`${this.name} has no identity yet`);
    const { setup } = this;
    const agent = new Agent({
      identity,
      managers: setup.managers.length > 0 ? setup.managers : identity.managers,
      dataDir: setup.dataDir,
      advertiseAddr: setup.address,
      nodeName: setup.name,
      runtime: this.runtime,
      logger: setup.logger.child(setup.name),
      insecure: setup.insecure,
      // Boards on one machine share it: no blob server each, secrets beside the board's state.
      blobPort: null,
      secretsDir: path.join(setup.dataDir, 'secrets'),
      clock: setup.clock,
      chaos: (this.chaos ??= new AgentChaos({
        allow: setup.allowChaos,
        host: this.chaosHost,
        identity,
        dataDir: setup.dataDir,
        logger: setup.logger.child(setup.name),
        clock: setup.clock,
      })),
    });
    await agent.start();
    if (this.stopped) await agent.stop();
    else this.agent = agent;
  }

  /** The identity in the data dir, if there is one. */
  private async keptIdentity(): Promise<Identity | undefined> {
    const file = this.identityFile();
    const raw = await readJsonFile(file).catch(() => null);
    if (raw === undefined) return undefined;
    const parsed = identitySchema.safeParse(raw);
    if (!parsed.success)
      throw new SimBoardError(`the identity file ${file} is damaged; remove it to join again`);
    return parsed.data;
  }

  private identityFile(): string {
    return path.join(this.setup.dataDir, 'identity.json');
  }
}
