// Who does what as leadership moves: leader-only parts start and stop, clients learn the leader.
import type { FleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { encode, topics, type LeaderInfo } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { ClusterGate } from '../api/rpc-server.js';
import type { LeaderPart } from './controller.js';
import type { RaftHost } from '../raft/host.js';
import type { Store } from '../store/store.js';

export type { LeaderPart } from './controller.js';

export interface LeadershipDeps {
  id: string;
  host: RaftHost;
  store: Store;
  broker: Broker;
  logger: Logger;
  /** Started in order when this manager leads (caught up), stopped in reverse when it stops. */
  parts: LeaderPart[];
}

export class Leadership implements ClusterGate {
  private running = false;
  private lastPublished = '';
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly deps: LeadershipDeps) {}

  start(): void {
    const { host, store } = this.deps;
    host.on('leading', () => this.queue(() => this.lead()));
    host.on('following', () => this.queue(async () => this.follow()));
    host.on('role', () => this.publishLeaderInfo());
    store.on('members', () => this.publishLeaderInfo());
    this.publishLeaderInfo();
    if (host.isLeading) this.queue(() => this.lead());
  }

  stop(): void {
    this.follow();
  }

  isLeader(): boolean {
    return this.deps.host.isLeader;
  }

  readBarrier(): Promise<void> {
    return this.deps.host.readBarrier();
  }

  writeBlocker(): FleetError | null {
    return this.deps.host.writeBlocker();
  }

  quorumProblem(): string | null {
    const { reachable, voters } = this.deps.host.reachability();
    return reachable * 2 > voters ? null : this.deps.host.quorumText();
  }

  leaderInfo(): LeaderInfo {
    const { host, store, id } = this.deps;
    const managers = store.members().map((m) => ({ id: m.id, address: m.address }));
    const leaderId = host.leaderId;
    const leader = leaderId === null ? null : (managers.find((m) => m.id === leaderId) ?? null);
    return { v: 1, from: id, term: host.status().term, leader, managers };
  }

  /** Where the leader listens: 'self', another manager's address, or null during an election. */
  leaderAddress(): string | null {
    if (this.deps.host.isLeader) return 'self';
    return this.leaderInfo().leader?.address ?? null;
  }

  /** Leadership changes are handled one at a time, in the order they happened. */
  private queue(step: () => Promise<void>): void {
    this.transition = this.transition.then(step).catch((e: unknown) => {
      this.deps.logger.error('leadership change failed', { error: String(e) });
    });
  }

  private async lead(): Promise<void> {
    if (this.running || !this.deps.host.isLeader) return;
    this.running = true;
    this.deps.logger.info('leading: starting the controllers', { id: this.deps.id });
    for (const p of this.deps.parts) await p.start();
  }

  private follow(): void {
    if (!this.running) return;
    this.running = false;
    this.deps.logger.info('no longer leading: stopping the controllers', { id: this.deps.id });
    for (const p of [...this.deps.parts].reverse()) p.stop();
  }

  /** Retained on this manager's broker, so every client that connects learns the leader. */
  private publishLeaderInfo(): void {
    const info = this.leaderInfo();
    const text = JSON.stringify(info);
    if (text === this.lastPublished) return;
    this.lastPublished = text;
    this.deps.broker
      .publish(topics.leader(), encode(info), { retain: true, qos: 1 })
      .catch((e: unknown) => {
        this.lastPublished = '';
        this.deps.logger.warn('could not publish the leader', { error: String(e) });
      });
  }
}
