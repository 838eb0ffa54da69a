// The Raft log on SQLite: hard state, latest snapshot and stable entries, each save one durable transaction.
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { Entry, HardState, Snapshot } from './core/types.js';

const FORMAT = '1';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), meta TEXT NOT NULL, data TEXT NOT NULL);
`;

/** Per-row bookkeeping counted into sizeBytes on top of the data, so tiny entries still add up. */
const ROW_OVERHEAD = 32;

const count = z.number().int().min(0);
const hardStateSchema = z.object({
  term: count,
  vote: z.string().min(1).nullable(),
  commit: count,
});
const snapshotMetaSchema = z.object({
  index: count,
  term: count,
  conf: z.object({ voters: z.array(z.string()), learners: z.array(z.string()) }),
});

interface EntryRow {
  idx: unknown;
  term: unknown;
  type: unknown;
  data: unknown;
}

export interface RaftBoot {
  hardState: HardState;
  snapshot?: Snapshot;
  entries: Entry[];
}

export class RaftStorage {
  private readonly db: Database.Database;
  private bytes = 0;
  private readonly stmts;

  constructor(private readonly file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: an acknowledged write survives power loss, not just a process crash. Raft's safety
    // rests on it: a vote or an acknowledged entry forgotten after a reboot can elect two leaders.
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
    this.stmts = {
      getMeta: this.db.prepare<[string], { value: unknown }>(
        'SELECT value FROM meta WHERE key = ?',
      ),
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)'),
      entries: this.db.prepare<[], EntryRow>(
        'SELECT idx, term, type, data FROM entries ORDER BY idx',
      ),
      lastIndex: this.db.prepare<[], { last: number | null }>(
        'SELECT MAX(idx) AS last FROM entries',
      ),
      sizeFrom: this.db.prepare<[number], { n: number | null }>(
        `SELECT SUM(length(data) + ${ROW_OVERHEAD}) AS n FROM entries WHERE idx >= ?`,
      ),
      sizeBelow: this.db.prepare<[number], { n: number | null }>(
        `SELECT SUM(length(data) + ${ROW_OVERHEAD}) AS n FROM entries WHERE idx < ?`,
      ),
      deleteFrom: this.db.prepare('DELETE FROM entries WHERE idx >= ?'),
      deleteBelow: this.db.prepare('DELETE FROM entries WHERE idx < ?'),
      deleteAll: this.db.prepare('DELETE FROM entries'),
      insert: this.db.prepare('INSERT INTO entries(idx, term, type, data) VALUES (?, ?, ?, ?)'),
      snapshotMeta: this.db.prepare<[], { meta: unknown }>(
        'SELECT meta FROM snapshot WHERE id = 1',
      ),
      getSnapshot: this.db.prepare<[], { meta: unknown; data: unknown }>(
        'SELECT meta, data FROM snapshot WHERE id = 1',
      ),
      setSnapshot: this.db.prepare(
        'INSERT OR REPLACE INTO snapshot(id, meta, data) VALUES (1, ?, ?)',
      ),
    };
    const format = this.stmts.getMeta.get('format')?.value;
    if (format === undefined) this.stmts.setMeta.run('format', FORMAT);
    else if (format !== FORMAT) throw this.corrupt(`unknown format ${JSON.stringify(format)}`);
    this.bytes = this.stmts.sizeFrom.get(0)?.n ?? 0;
  }

  /** What a restarted node boots from (applied comes from the state machine, not from here). */
  load(): RaftBoot {
    const hardState = this.readHardState();
    const snapshot = this.readSnapshot();
    const entries: Entry[] = [];
    for (const row of this.stmts.entries.iterate()) {
      const e = this.checkRow(row);
      const prev = entries[entries.length - 1];
      if (prev && e.index !== prev.index + 1)
        throw this.corrupt(`entries jump from index ${prev.index} to ${e.index}`);
      if (prev && e.term < prev.term)
        throw this.corrupt(`entry ${e.index} has term ${e.term}, below its predecessor's`);
      entries.push(e);
    }
    const first = entries[0];
    if (snapshot && first) {
      const snapIndex = snapshot.meta.index;
      if (first.index > snapIndex + 1)
        throw this.corrupt(`entries start at ${first.index}, after snapshot index ${snapIndex}`);
      const at = entries[snapIndex - first.index];
      if (at && at.term !== snapshot.meta.term)
        throw this.corrupt(
          `entry ${snapIndex} has term ${at.term}, the snapshot says ${snapshot.meta.term}`,
        );
    }
    const last = Math.max(snapshot?.meta.index ?? 0, entries[entries.length - 1]?.index ?? 0);
    if (hardState.commit > last)
      throw this.corrupt(`commit ${hardState.commit} is beyond the last index ${last}`);
    return snapshot ? { hardState, snapshot, entries } : { hardState, entries };
  }

  /**
   * One synchronous transaction, in this order: snapshot (replaces the whole log), entries
   * (stable entries at or after entries[0].index are replaced), hard state.
   */
  save(r: { hardState?: HardState; snapshot?: Snapshot; entries: Entry[] }): void {
    checkContiguous(r.entries);
    // Counted aside and kept only once the transaction committed: a failed save changes nothing.
    let bytes = this.bytes;
    this.db.transaction(() => {
      if (r.snapshot) {
        this.writeSnapshot(r.snapshot);
        this.stmts.deleteAll.run();
        bytes = 0;
      }
      const first = r.entries[0];
      if (first) {
        const last = this.stmts.lastIndex.get()?.last ?? null;
        const floor = last ?? this.snapshotIndex() ?? first.index - 1;
        if (first.index > floor + 1)
          throw new Error(
            `raft log ${this.file}: entry ${first.index} would leave a gap after ${floor}`,
          );
        if (last !== null && first.index <= last) {
          bytes -= this.stmts.sizeFrom.get(first.index)?.n ?? 0;
          this.stmts.deleteFrom.run(first.index);
        }
        for (const e of r.entries) {
          this.stmts.insert.run(e.index, e.term, e.type, e.data);
          bytes += e.data.length + ROW_OVERHEAD;
        }
      }
      if (r.hardState) this.stmts.setMeta.run('hard_state', JSON.stringify(r.hardState));
    })();
    this.bytes = bytes;
  }

  /** After the core compacted: keep this snapshot and delete entries with index < firstKept. */
  compact(snapshot: Snapshot, firstKept: number): void {
    let bytes = this.bytes;
    this.db.transaction(() => {
      this.writeSnapshot(snapshot);
      bytes -= this.stmts.sizeBelow.get(firstKept)?.n ?? 0;
      this.stmts.deleteBelow.run(firstKept);
    })();
    this.bytes = bytes;
  }

  /** Approximate bytes of stable entries, for deciding when to compact. */
  get sizeBytes(): number {
    return this.bytes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private writeSnapshot(s: Snapshot): void {
    this.stmts.setSnapshot.run(JSON.stringify(s.meta), s.data);
  }

  /** The stored snapshot's index, without reading its data. */
  private snapshotIndex(): number | undefined {
    const row = this.stmts.snapshotMeta.get();
    if (!row) return undefined;
    const meta = snapshotMetaSchema.safeParse(parseJson(row.meta));
    if (!meta.success) throw this.corrupt('the snapshot is unreadable');
    return meta.data.index;
  }

  private readHardState(): HardState {
    const raw = this.stmts.getMeta.get('hard_state')?.value;
    if (raw === undefined) return { term: 0, vote: null, commit: 0 };
    const r = hardStateSchema.safeParse(parseJson(raw));
    if (!r.success) throw this.corrupt('the hard state is unreadable');
    return r.data;
  }

  private readSnapshot(): Snapshot | undefined {
    const row = this.stmts.getSnapshot.get();
    if (!row) return undefined;
    const meta = snapshotMetaSchema.safeParse(parseJson(row.meta));
    if (!meta.success || typeof row.data !== 'string')
      throw this.corrupt('the snapshot is unreadable');
    return { meta: meta.data, data: row.data };
  }

  private checkRow(row: EntryRow): Entry {
    const { idx, term, type, data } = row;
    if (typeof idx !== 'number' || !Number.isSafeInteger(idx) || idx < 1)
      throw this.corrupt(`an entry has index ${String(idx)}`);
    if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0)
      throw this.corrupt(`entry ${idx} has term ${String(term)}`);
    if (type !== 'normal' && type !== 'conf')
      throw this.corrupt(`entry ${idx} has type ${JSON.stringify(type)}`);
    if (typeof data !== 'string') throw this.corrupt(`entry ${idx} has non-text data`);
    return { index: idx, term, type, data };
  }

  private corrupt(why: string): Error {
    return new Error(`raft log ${this.file} is corrupt: ${why}`);
  }
}

function parseJson(raw: unknown): unknown {
  if (typeof raw !== 'string') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** A batch to save must itself be a run of consecutive indexes with non-decreasing terms. */
function checkContiguous(entries: Entry[]): void {
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1];
    const e = entries[i];
    if (prev && e && (e.index !== prev.index + 1 || e.term < prev.term))
      throw new Error(`raft entries to save are not contiguous at index ${e.index}`);
  }
}
