// In-memory Raft log: the snapshot point, the entries after it, and the commit/persist marks.
import type { Entry, Snapshot } from './types.js';

/** UTF-8 byte length of a string (entry sizes are counted in bytes). */
export function byteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++; // the low surrogate is part of the same code point
    } else n += 3;
  }
  return n;
}

export function invariant(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`raft invariant: ${msg}`);
}

export class RaftLog {
  /** Index of the entry just before entries[0]. */
  private offset: number;
  /** Term at `offset` when known (it may lie below a snapshot and be forgotten). */
  private offsetTerm: number | undefined;
  private entries: Entry[];
  /** Latest snapshot (taken locally or installed); what lagging followers are sent. */
  snapshot: Snapshot | undefined;
  /** A snapshot installed from the leader and not yet handed out in a Ready. */
  pendingSnapshot: Snapshot | undefined;
  committed: number;
  /** Highest index handed out for applying (>= applied). */
  applying: number;
  applied: number;
  /** First index not yet handed out for persisting. */
  unstableFrom: number;

  constructor(
    snapshot: Snapshot | undefined,
    entries: Entry[],
    committed: number,
    applied: number,
  ) {
    this.snapshot = snapshot;
    this.pendingSnapshot = undefined;
    const first = entries[0];
    if (first) {
      this.offset = first.index - 1;
      this.offsetTerm =
        snapshot && snapshot.meta.index === this.offset ? snapshot.meta.term : undefined;
      if (first.index === 1) this.offsetTerm = 0;
    } else {
      this.offset = snapshot ? snapshot.meta.index : 0;
      this.offsetTerm = snapshot ? snapshot.meta.term : 0;
    }
    this.entries = entries.slice();
    this.committed = committed;
    this.applied = applied;
    this.applying = applied;
    this.unstableFrom = this.lastIndex() + 1;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term of entry `i`, or undefined when it is compacted away or beyond the end. */
  term(i: number): number | undefined {
    if (i > this.offset) return this.entries[i - this.offset - 1]?.term;
    if (i === this.offset && this.offsetTerm !== undefined) return this.offsetTerm;
    if (this.snapshot && i === this.snapshot.meta.index) return this.snapshot.meta.term;
    return undefined;
  }

  entry(i: number): Entry | undefined {
    return i > this.offset ? this.entries[i - this.offset - 1] : undefined;
  }

  matchTerm(i: number, t: number): boolean {
    const got = this.term(i);
    return got !== undefined && got === t;
  }

  /** A candidate's log (lastIndex, lastTerm) is at least as up to date as ours (Raft §5.4.1). */
  isUpToDate(index: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && index >= this.lastIndex());
  }

  /** Index of the first entry of `ents` that is missing or conflicts with ours, or 0. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** Largest j <= index whose term is <= term (fast backtracking of rejected appends). */
  findConflictByTerm(index: number, term: number): number {
    let j = Math.min(index, this.lastIndex());
    for (; j > 0; j--) {
      const t = this.term(j);
      if (t === undefined || t <= term) return j;
    }
    return 0;
  }

  /** Follower side of an append: returns the last new index, or undefined when prev does not match. */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    ents: Entry[],
  ): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      invariant(conflict > this.committed, `conflict at ${conflict} <= commit ${this.committed}`);
      this.append(ents.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries, replacing any of ours at or after the first one's index. */
  append(ents: Entry[]): void {
    const first = ents[0];
    if (!first) return;
    invariant(first.index > this.committed, `append at ${first.index} <= commit ${this.committed}`);
    invariant(first.index <= this.lastIndex() + 1, `gap before ${first.index}`);
    this.entries.length = Math.max(0, first.index - this.offset - 1);
    for (const e of ents) this.entries.push(e);
    this.unstableFrom = Math.min(this.unstableFrom, first.index);
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    invariant(i <= this.lastIndex(), `commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
  }

  /** Entries [lo, hi] capped at maxSize bytes of data (at least one); undefined when compacted. */
  slice(lo: number, hi: number, maxSize: number): Entry[] | undefined {
    if (lo <= this.offset) return undefined;
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i <= Math.min(hi, this.lastIndex()); i++) {
      const e = this.entry(i);
      if (!e) break;
      size += byteLength(e.data);
      if (out.length > 0 && size > maxSize) break;
      out.push(e);
    }
    return out;
  }

  /** Entries not yet handed out for persisting; marks them handed out. */
  takeUnstable(): Entry[] {
    const from = Math.max(this.unstableFrom, this.firstIndex());
    const out = this.entries.slice(from - this.offset - 1);
    this.unstableFrom = this.lastIndex() + 1;
    return out;
  }

  hasUnstable(): boolean {
    return Math.max(this.unstableFrom, this.firstIndex()) <= this.lastIndex();
  }

  /** Committed entries not yet handed out for applying; marks them handed out. */
  takeCommitted(): Entry[] {
    const from = Math.max(this.applying + 1, this.firstIndex());
    const out = this.entries.slice(from - this.offset - 1, this.committed - this.offset);
    this.applying = Math.max(this.applying, this.committed);
    return out;
  }

  hasCommitted(): boolean {
    return this.committed > this.applying;
  }

  /** Replaces the whole log by a snapshot from the leader. */
  restore(s: Snapshot): void {
    this.snapshot = s;
    this.pendingSnapshot = s;
    this.offset = s.meta.index;
    this.offsetTerm = s.meta.term;
    this.entries = [];
    this.committed = s.meta.index;
    this.applying = s.meta.index;
    this.unstableFrom = s.meta.index + 1;
  }

  /** Records a local snapshot at `snap.meta.index` and drops entries before `keepFrom`. */
  compact(snap: Snapshot, keepFrom: number): void {
    this.snapshot = snap;
    const from = Math.min(Math.max(keepFrom, this.firstIndex()), snap.meta.index + 1);
    if (from <= this.firstIndex()) return;
    const t = this.term(from - 1);
    this.entries = this.entries.slice(from - this.offset - 1);
    this.offset = from - 1;
    this.offsetTerm = t;
  }
}
