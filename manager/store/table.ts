// One record kind's SQLite table and its in-memory copy: schema, load, put, remove, undo.
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import type { ChangeSet } from './commands.js';

/** What every stored record has; `version` only on kinds that are versioned. */
export interface StoredRecord {
  id: string;
  version?: number;
}

/** A column of a kind's table between `id` and `data`, read from the record. */
export interface Column<T> {
  name: string;
  sql: string;
  of(r: T): string | null;
}

/** Everything the store needs to know about one record kind. */
export interface KindSpec<T extends StoredRecord> {
  /** The SQLite table, and the key of the kind's list in a dump. */
  table: string;
  /** Columns between `id` and `data`, with their SQL types. */
  columns: Column<T>[];
  /**
   * How a put is written: 'replace' (INSERT OR REPLACE) where the id is the only unique column;
   * 'update' (upsert on the id) where a name must stay unique, so that a record taking another's
   * name fails on every manager alike instead of silently deleting the other row.
   */
  put: 'replace' | 'update';
  /** More schema statements (indexes) after the table's. */
  schemaExtra?: string[];
  /**
   * In-memory lookups by a field (null: not listed). A rewritten record of a kind with lookups
   * moves to the end of the kind's order, as it does in SQLite after a restart.
   */
  lookups?: Record<string, (r: T) => string | null>;
  /**
   * Set for kinds whose writes are checked against concurrent ones: each put is stamped with the
   * applied index, and a put computed from an older version is refused. Names the record in the
   * refusal.
   */
  versioned?: (r: T) => string;
  /** The shape each record of a dump must have before anything is replaced. */
  frame: z.ZodType;
  /** Notes in the change set that a record was written or removed (`next` undefined). */
  touch(ch: ChangeSet, id: string, old: T | undefined, next: T | undefined): void;
}

/** The schema statements of a kind, in the text the store has always created. */
export function kindSchema(spec: KindSpec<never>): string {
  const cols = ['id TEXT PRIMARY KEY', ...spec.columns.map((c) => `${c.name} ${c.sql}`)];
  const table = `CREATE TABLE IF NOT EXISTS ${spec.table} (${[...cols, 'data TEXT NOT NULL'].join(', ')});`;
  return [table, ...(spec.schemaExtra ?? [])].join('\n');
}

export class Table<T extends StoredRecord> {
  private readonly byId = new Map<string, T>();
  private readonly index = new Map<string, Map<string, Set<string>>>();
  private readonly putStmt: Database.Statement;
  private readonly delStmt: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    readonly spec: KindSpec<T>,
  ) {
    const names = ['id', ...spec.columns.map((c) => c.name), 'data'];
    const marks = names.map(() => '?').join(', ');
    const set = names.slice(1).map((n) => `${n} = excluded.${n}`);
    this.putStmt = db.prepare(
      spec.put === 'replace'
        ? `INSERT OR REPLACE INTO ${spec.table}(${names.join(', ')}) VALUES (${marks})`
        : `INSERT INTO ${spec.table}(${names.join(', ')}) VALUES (${marks}) ` +
            `ON CONFLICT(id) DO UPDATE SET ${set.join(', ')}`,
    );
    this.delStmt = db.prepare(`DELETE FROM ${spec.table} WHERE id = ?`);
    for (const name of Object.keys(spec.lookups ?? {})) this.index.set(name, new Map());
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<T> {
    return this.byId.values();
  }

  ids(): Set<string> {
    return new Set(this.byId.keys());
  }

  /** The records whose lookup `name` gives `key`, in the order they were listed. */
  lookup(name: string, key: string): T[] {
    const out: T[] = [];
    for (const id of this.index.get(name)?.get(key) ?? []) {
      const r = this.byId.get(id);
      if (r) out.push(r);
    }
    return out;
  }

  /** Writes a record to the table (inside the caller's transaction) and to memory. */
  put(r: T): void {
    this.putStmt.run(r.id, ...this.spec.columns.map((c) => c.of(r)), JSON.stringify(r));
    this.remember(r);
  }

  remove(id: string): void {
    this.delStmt.run(id);
    this.forget(id);
  }

  /** Writes rows of a dump to the table only; memory is loaded afterwards. */
  writeRows(rows: T[]): void {
    for (const r of rows) {
      this.putStmt.run(r.id, ...this.spec.columns.map((c) => c.of(r)), JSON.stringify(r));
    }
  }

  load(): void {
    const rows = this.db.prepare(`SELECT data FROM ${this.spec.table}`).all() as { data: string }[];
    for (const row of rows) this.remember(JSON.parse(row.data) as T);
  }

  clear(): void {
    this.byId.clear();
    for (const m of this.index.values()) m.clear();
  }

  /** The records these ids have now, to put back with `undo` if the transaction fails. */
  save(ids: Iterable<string>, into: Map<string, T | undefined>): void {
    for (const id of ids) into.set(id, this.byId.get(id));
  }

  undo(saved: Map<string, T | undefined>): void {
    for (const [id, r] of saved) {
      if (r) this.remember(r);
      else this.forget(id);
    }
  }

  private remember(r: T): void {
    if (this.index.size === 0) {
      this.byId.set(r.id, r);
      return;
    }
    this.forget(r.id);
    this.byId.set(r.id, r);
    for (const [name, of] of Object.entries(this.spec.lookups ?? {})) {
      const key = of(r);
      if (key === null) continue;
      const m = this.index.get(name);
      if (!m) continue;
      let s = m.get(key);
      if (!s) m.set(key, (s = new Set()));
      s.add(r.id);
    }
  }

  private forget(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    for (const [name, of] of Object.entries(this.spec.lookups ?? {})) {
      const key = of(old);
      if (key !== null) this.index.get(name)?.get(key)?.delete(id);
    }
  }
}
