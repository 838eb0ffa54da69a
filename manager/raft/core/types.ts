// The Raft core's contract: messages, log entries, hard state and the Ready batch the caller processes.
//
// The core does no I/O and reads no clock or randomness of its own: the caller ticks it, steps
// messages into it, and for every Ready persists, sends and applies, in that order, then calls
// advance(). Given the same inputs (and the same `random`), it makes the same outputs.

export type NodeId = string;

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Persisted before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  /** Whom this node voted for in `term`, or null. */
  vote: NodeId | null;
  commit: number;
}

/** A log entry. `data` is opaque to the core except for 'conf' entries (a JSON ConfChange). */
export interface Entry {
  index: number;
  term: number;
  type: 'normal' | 'conf';
  /** '' for the empty entry a new leader appends to commit entries of earlier terms. */
  data: string;
}

/** Members: voters elect and count toward quorum; learners only receive the log. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/** One single-server membership change, carried as JSON in a 'conf' entry. */
export interface ConfChange {
  op: 'add-voter' | 'add-learner' | 'remove';
  id: NodeId;
  /** Opaque to the core (the manager puts the member's address here). */
  context?: string;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

/** A snapshot of the state machine at `meta.index`; `data` is opaque to the core. */
export interface Snapshot {
  meta: SnapshotMeta;
  data: string;
}

export type MessageType =
  | 'prevote'
  | 'prevote-resp'
  | 'vote'
  | 'vote-resp'
  | 'app'
  | 'app-resp'
  | 'heartbeat'
  | 'heartbeat-resp'
  | 'snap'
  | 'timeout-now';

/**
 * One message between peers. Fields by type:
 * - prevote/vote: index, logTerm = candidate's last index and its term; context 'transfer' when
 *   the election was started by a leadership transfer (bypasses the leader lease).
 *   (A prevote carries the term the candidate would campaign in, i.e. its term + 1.)
 * - prevote-resp/vote-resp: reject.
 * - app: index, logTerm = the entry before `entries`; entries; commit.
 * - app-resp: index = the highest index now known to match; on reject, index = the rejected
 *   index and rejectHint = the follower's last index.
 * - heartbeat: commit (min of the follower's match and the leader's commit); context (ReadIndex).
 * - heartbeat-resp: context echoed.
 * - snap: snapshot.
 * - timeout-now: none (the receiver campaigns at once).
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  index?: number;
  logTerm?: number;
  entries?: Entry[];
  commit?: number;
  reject?: boolean;
  rejectHint?: number;
  snapshot?: Snapshot;
  context?: string;
}

export interface SoftState {
  leader: NodeId | null;
  role: Role;
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  context: string;
  index: number;
}

/** What the caller must do next, in this order; then it calls advance(). */
export interface Ready {
  /** Present when leader or role changed. */
  softState?: SoftState;
  /** Present when changed; persist it (with `snapshot` and `entries`) in one transaction. */
  hardState?: HardState;
  /** A snapshot received from the leader: persist it, restore the state machine from it. */
  snapshot?: Snapshot;
  /** Entries to persist; any stable entries at or after entries[0].index are replaced. */
  entries: Entry[];
  /** Send after persisting. */
  messages: Message[];
  /** Committed entries to apply in order, after persisting (conf entries included). */
  committed: Entry[];
  readStates: ReadState[];
}

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing a leader before campaigning; randomized in [electionTick, 2*electionTick). */
  electionTick: number;
  /** Ticks between a leader's heartbeats; must be < electionTick. */
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Upper bound on the bytes of entry data in one append message (at least one entry is sent). */
  maxSizePerMsg: number;
  /** Append messages in flight to one follower in replicate state. */
  maxInflightMsgs: number;
  /** Proposals are refused while this many bytes of entry data are uncommitted (0 = no limit). */
  maxUncommittedSize: number;
  /** Uniform in [0, 1): randomizes election timeouts. Seeded in tests. */
  random: () => number;
  /** Optional trace of role changes and notable events (no I/O is required of it). */
  trace?: (event: string, fields: Record<string, unknown>) => void;
}

/** What a node starts from: nothing for a new node, or what its storage held. */
export interface RaftBootState {
  hardState: HardState;
  /** The latest snapshot, if any. */
  snapshot?: Snapshot;
  /** Stable log entries, contiguous, starting at or before snapshot.index + 1. */
  entries: Entry[];
  /** The highest index the state machine has applied (>= snapshot index, <= commit). */
  applied: number;
}

export type RefusalReason =
  | 'not-leader'
  | 'transferring-leadership'
  | 'conf-change-pending'
  | 'too-much-uncommitted'
  | 'not-a-member';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: RefusalReason; leader: NodeId | null };

export interface Progress {
  match: number;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot';
  /** Heard from since the last check-quorum round. */
  recentActive: boolean;
  learner: boolean;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId | null;
  role: Role;
  leader: NodeId | null;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  conf: ConfState;
  /** The leader's view of each member (leader only). */
  progress?: Record<NodeId, Progress>;
  leadTransferee: NodeId | null;
}

export type ReadIndexResult =
  { ok: true } | { ok: false; reason: RefusalReason; leader: NodeId | null };

export type TransferResult = { ok: true } | { ok: false; reason: string };
