// Keyed differences between two lists of rows: what a browser needs to move from one to the next.
export interface RowDiff<T> {
  /** Rows new or changed, whole. */
  put: T[];
  /** Ids of rows gone. */
  del: string[];
}

/** Rows are compared by their JSON text: they are small, flat and built in one key order. */
export class RowTracker<T extends { id: string }> {
  private last = new Map<string, string>();

  /** The changes since the previous call (everything on the first). */
  next(rows: readonly T[]): RowDiff<T> {
    const now = new Map<string, string>();
    const put: T[] = [];
    for (const r of rows) {
      const text = JSON.stringify(r);
      now.set(r.id, text);
      if (this.last.get(r.id) !== text) put.push(r);
    }
    const del: string[] = [];
    for (const id of this.last.keys()) if (!now.has(id)) del.push(id);
    this.last = now;
    return { put, del };
  }
}

export const isEmptyDiff = (d: RowDiff<unknown>): boolean =>
  d.put.length === 0 && d.del.length === 0;
