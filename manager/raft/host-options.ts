// What a Raft host is built from: its store, log, transport, clock and timing.
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { Store } from '../store/store.js';
import type { Message } from './core/index.js';
import type { RaftStorage } from './storage.js';

/** What the host needs of the network: RaftTransport, or an in-memory one in tests. */
export interface PeerTransport {
  send(msgs: Message[]): void;
  setPeers(peers: ReadonlyMap<string, string>): void;
  connected(id: string): boolean;
}

export interface RaftTiming {
  /** One Raft tick. */
  tickMs: number;
  /** Ticks before a follower that hears no leader campaigns (randomized up to twice this). */
  electionTicks: number;
  heartbeatTicks: number;
}

export const DEFAULT_TIMING: RaftTiming = { tickMs: 100, electionTicks: 10, heartbeatTicks: 1 };

export interface RaftHostOptions {
  id: string;
  store: Store;
  storage: RaftStorage;
  transport: PeerTransport;
  logger: Logger;
  /** Ticks, deadlines and retry pauses (systemClock unless given). */
  clock?: Clock;
  timing?: Partial<RaftTiming>;
  /** Snapshot (and compact the log) after this many applied entries. */
  snapshotEvery?: number;
  /** Entries kept behind a snapshot, so a briefly lagging manager catches up without one. */
  retainEntries?: number;
  /** How long a write may wait for its commit before the proposer is told. */
  commitTimeoutMs?: number;
  random?: () => number;
  /** Whom to talk to before the store knows any member (a manager that has just joined). */
  initialPeers?: { id: string; address: string }[];
}
