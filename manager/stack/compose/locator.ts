// Where each value of a loaded Compose tree came from: a side table keyed by the parent object, kept through merging.
import type { Loc } from './errors.js';

/** A loaded Compose value: plain data, as JSON would hold it. */
export type Value = string | number | boolean | null | Value[] | { [key: string]: Value };
export type Mapping = { [key: string]: Value };

/** A value as text: scalars as they read, lists and mappings as JSON. */
export const text = (v: Value | undefined): string =>
  v === undefined ? '' : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);

export const isMapping = (v: unknown): v is Mapping =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Places of values by their parent and key (or index): objects keep their identity through
 * interpolation and merging, so a problem found late still names the line the value came from.
 */
export class Locator {
  private readonly self = new WeakMap<object, Loc>();
  private readonly children = new WeakMap<object, Map<string | number, Loc>>();

  setSelf(obj: object, loc: Loc): void {
    this.self.set(obj, loc);
  }

  setChild(parent: object, key: string | number, loc: Loc): void {
    let m = this.children.get(parent);
    if (!m) {
      m = new Map();
      this.children.set(parent, m);
    }
    m.set(key, loc);
  }

  /** Where `parent[key]` was written, else where the parent was. */
  at(parent: object, key?: string | number): Loc | undefined {
    if (key !== undefined) {
      const loc = this.children.get(parent)?.get(key);
      if (loc) return loc;
    }
    return this.self.get(parent);
  }

  /** Copies the place of `from[fromKey]` to `to[toKey]`. */
  copy(from: object, fromKey: string | number, to: object, toKey: string | number): void {
    const loc = this.children.get(from)?.get(fromKey);
    if (loc) this.setChild(to, toKey, loc);
  }

  /** The most precise place known along a path from the root (as an ajv instancePath). */
  path(root: Value, segments: readonly string[]): Loc | undefined {
    let node: Value | undefined = root;
    let best = typeof root === 'object' && root !== null ? this.self.get(root) : undefined;
    for (const seg of segments) {
      if (typeof node !== 'object' || node === null) break;
      const key = Array.isArray(node) ? Number(seg) : seg;
      best = this.at(node, key) ?? best;
      node = Array.isArray(node) ? node[Number(seg)] : node[seg];
    }
    return best;
  }
}
