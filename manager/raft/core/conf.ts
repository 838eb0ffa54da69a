// Membership (voters/learners), conf-entry parsing, and validation of config and boot state.
import type { ConfChange, ConfState, Entry, NodeId, RaftBootState, RaftConfig } from './types.js';

export class RaftConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftConfigError';
  }
}

export class Membership {
  private voterSet: Set<NodeId>;
  private learnerSet: Set<NodeId>;

  constructor(cs: ConfState = { voters: [], learners: [] }) {
    this.voterSet = new Set(cs.voters);
    this.learnerSet = new Set(cs.learners.filter((l) => !this.voterSet.has(l)));
  }

  /** Sorted so iteration over peers is deterministic. */
  voters(): NodeId[] {
    return [...this.voterSet].sort();
  }

  learners(): NodeId[] {
    return [...this.learnerSet].sort();
  }

  members(): NodeId[] {
    return [...this.voterSet, ...this.learnerSet].sort();
  }

  isVoter(id: NodeId): boolean {
    return this.voterSet.has(id);
  }

  isLearner(id: NodeId): boolean {
    return this.learnerSet.has(id);
  }

  isMember(id: NodeId): boolean {
    return this.voterSet.has(id) || this.learnerSet.has(id);
  }

  state(): ConfState {
    return { voters: this.voters(), learners: this.learners() };
  }

  /** Applies one change; idempotent, so replaying an already-applied entry is harmless. */
  apply(cc: ConfChange): void {
    if (cc.op === 'add-voter') {
      this.learnerSet.delete(cc.id);
      this.voterSet.add(cc.id);
    } else if (cc.op === 'add-learner') {
      this.voterSet.delete(cc.id);
      this.learnerSet.add(cc.id);
    } else {
      this.voterSet.delete(cc.id);
      this.learnerSet.delete(cc.id);
    }
  }
}

/** The ConfChange in a 'conf' entry, or undefined when the data is not one. */
export function parseConfChange(e: Entry): ConfChange | undefined {
  if (e.type !== 'conf') return undefined;
  try {
    const v: unknown = JSON.parse(e.data);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    const op = o.op;
    if (op !== 'add-voter' && op !== 'add-learner' && op !== 'remove') return undefined;
    if (typeof o.id !== 'string' || o.id === '') return undefined;
    const cc: ConfChange = { op, id: o.id };
    if (typeof o.context === 'string') cc.context = o.context;
    return cc;
  } catch {
    return undefined;
  }
}

function positiveInt(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

export function validateConfig(c: RaftConfig): void {
  const fail = (msg: string): never => {
    throw new RaftConfigError(msg);
  };
  if (typeof c.id !== 'string' || c.id === '') fail('id must be a non-empty string');
  if (!positiveInt(c.heartbeatTick)) fail('heartbeatTick must be a positive integer');
  if (!positiveInt(c.electionTick)) fail('electionTick must be a positive integer');
  if (c.heartbeatTick >= c.electionTick) fail('heartbeatTick must be < electionTick');
  if (!positiveInt(c.maxInflightMsgs)) fail('maxInflightMsgs must be a positive integer');
  if (!(c.maxSizePerMsg >= 0)) fail('maxSizePerMsg must be >= 0');
  if (!(c.maxUncommittedSize >= 0)) fail('maxUncommittedSize must be >= 0');
  if (typeof c.random !== 'function') fail('random must be a function');
}

export function validateBoot(b: RaftBootState): void {
  const fail = (msg: string): never => {
    throw new RaftConfigError(`inconsistent boot state: ${msg}`);
  };
  const hs = b.hardState;
  const snap = b.snapshot?.meta;
  const snapIndex = snap?.index ?? 0;
  let prev: Entry | undefined;
  for (const e of b.entries) {
    if (prev && e.index !== prev.index + 1) fail(`entries not contiguous at ${e.index}`);
    if (prev && e.term < prev.term) fail(`entry terms decrease at ${e.index}`);
    if (snap && e.index === snap.index && e.term !== snap.term)
      fail('entry at snapshot index has another term');
    prev = e;
  }
  const first = b.entries[0];
  if (first && first.index > snapIndex + 1) fail('gap between snapshot and entries');
  if (!snap && first && first.index !== 1) fail('entries without snapshot must start at 1');
  const last = prev ? Math.max(prev.index, snapIndex) : snapIndex;
  const lastTerm = prev && prev.index >= snapIndex ? prev.term : (snap?.term ?? 0);
  if (hs.commit > last) fail(`commit ${hs.commit} beyond last index ${last}`);
  if (hs.commit < snapIndex) fail(`commit ${hs.commit} below snapshot index ${snapIndex}`);
  if (b.applied < snapIndex || b.applied > hs.commit) fail(`applied ${b.applied} out of range`);
  if (hs.term < lastTerm) fail(`term ${hs.term} below last log term ${lastTerm}`);
}
