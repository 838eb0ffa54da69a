// An agent upgrade rollout as the store keeps it: the release, the settings, and where each node stands.

/** How a rollout goes: the --parallelism, --delay, --monitor and failure flags of `node upgrade`. */
export interface RolloutSettings {
  /** Workers upgraded at once (managers always one at a time); at least 1. */
  parallelism: number;
  /** Wait after a node settles before the next one starts. */
  delayMs: number;
  /** How long a node must report the release and stay ready to count as done. */
  monitorMs: number;
  failureAction: 'pause' | 'rollback' | 'continue';
  /** Share of the rollout's nodes that may fail before the failure action, 0 to 1. */
  maxFailureRatio: number;
  /** Upgrade this many nodes first, then pause until `fleet node upgrade --resume`; 0: none. */
  canary: number;
  /** Time for the download and the switch, on top of the monitor period, before a node fails. */
  downloadMs: number;
}

export const DEFAULT_ROLLOUT_SETTINGS: RolloutSettings = {
  parallelism: 1,
  delayMs: 0,
  monitorMs: 60_000,
  failureAction: 'pause',
  maxFailureRatio: 0,
  canary: 0,
  downloadMs: 10 * 60_000,
};

export const ROLLOUT_STATES = [
  'updating',
  'paused',
  'completed',
  'rolling back',
  'rollback paused',
  'rolled back',
] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/**
 * One node in a rollout. pending: not started; upgrading: asked to run `target`, not there yet;
 * monitoring: reports `target` and is ready, watched for the monitor period; done; failed (counted);
 * skipped: needed nothing (already at the release, or left out of a rollback).
 */
export type NodeUpgradeState =
  'pending' | 'upgrading' | 'monitoring' | 'done' | 'failed' | 'skipped';

export interface RolloutNode {
  nodeId: string;
  name: string;
  /** A manager's board: upgraded after every worker, one at a time. */
  manager: boolean;
  /** The agent version it ran when the rollout began ('' when it never said). */
  from: string;
  /** The version the node is asked to run; absent while it is not asked for anything. */
  target?: string;
  state: NodeUpgradeState;
  startedAt?: number;
  /** Since when it reports `target` and is ready (the monitor period runs from here). */
  readySince?: number;
  settledAt?: number;
  /** Why it failed or was skipped. */
  reason?: string;
  /** A failure its agent reported before this node started: not this rollout's. */
  staleFailureAt?: number;
}

export interface RolloutRecord {
  id: string;
  /** Raft index of the last write (set by the store). */
  version?: number;
  /** The agent release every node of the rollout moves to. */
  release: string;
  /** 'rollback' once the nodes are being sent back to the versions they ran before. */
  kind: 'upgrade' | 'rollback';
  state: RolloutState;
  /** What people read: progress, or why it paused, naming the node and the cause. */
  message: string;
  settings: RolloutSettings;
  /** Workers first (by name), then managers. */
  nodes: RolloutNode[];
  /** Failures counted toward the ratio since the rollout (or its rollback, or a resume) began. */
  failures: number;
  /** The canaries were let through (by --resume). */
  promoted: boolean;
  createdAt: number;
  updatedAt: number;
  completedAt?: number;
}

/** A rollout still moving nodes: a new one is refused meanwhile. */
export const isMoving = (r: Pick<RolloutRecord, 'state'>): boolean =>
  r.state === 'updating' || r.state === 'rolling back';

/** A rollout that stopped short and waits for --resume or --rollback. */
export const isPaused = (r: Pick<RolloutRecord, 'state'>): boolean =>
  r.state === 'paused' || r.state === 'rollback paused';
