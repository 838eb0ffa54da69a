// What every mapping step shares: the stack, the options, the places of values, and the problems found so far.
import { resolve } from 'node:path';
import type { Loc, Problems } from './errors.js';
import { isMapping, type Locator, type Mapping, type Value, text } from './locator.js';

export interface ComposeSource {
  /** '-' stands for standard input. */
  path: string;
  text: string;
}

export interface ComposeOptions {
  stackName: string;
  /** The process environment; it wins over .env. */
  env: Record<string, string | undefined>;
  /** The first file's directory (the working directory for stdin): .env, env_file, file:, relative binds. */
  baseDir: string;
  readFile: (absPath: string) => Buffer;
  /** Unsupported keys become one warning each instead of errors. */
  ignoreUnsupported?: boolean;
}

export class MapContext {
  constructor(
    readonly stack: string,
    readonly opts: ComposeOptions,
    readonly root: Mapping,
    readonly locator: Locator,
    readonly problems: Problems,
  ) {}

  /** Where `parent[key]` was written. */
  at(parent: object, key?: string | number): Loc | undefined {
    return this.locator.at(parent, key);
  }

  problem(parent: object, key: string | number | undefined, message: string): void {
    this.problems.add(this.at(parent, key), message);
  }

  /** A top-level section (networks, volumes, secrets, configs) as a mapping. */
  section(name: string): Mapping {
    const s = this.root[name];
    return isMapping(s) ? s : {};
  }

  /** A path relative to the first file's directory made absolute. */
  path(p: string): string {
    return resolve(this.opts.baseDir, p);
  }

  /** The file's bytes, or null with a problem at `parent[key]` when it cannot be read. */
  read(p: string, parent: object, key: string | number, what: string): Buffer | null {
    try {
      return this.opts.readFile(this.path(p));
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const why = code === 'ENOENT' ? 'no such file' : String((e as Error).message ?? e);
      this.problem(parent, key, `${what} ${p}: ${why}`);
      return null;
    }
  }

  /** The stack's name for one of its objects: STACK_NAME. */
  scoped(name: string): string {
    return `${this.stack}_${name}`;
  }
}

/** A string_or_list value as a list of strings. */
export const stringList = (v: Value | undefined): string[] =>
  v === undefined || v === null ? [] : Array.isArray(v) ? v.map((x) => text(x)) : [text(v)];

/** A list_or_dict value as a record; a bare list item KEY maps to `bare` (or is left out when undefined). */
export function keyValues(
  v: Value | undefined,
  bare: (key: string) => string | undefined = () => '',
): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = text(item);
      const eq = s.indexOf('=');
      const key = eq < 0 ? s : s.slice(0, eq);
      const value = eq < 0 ? bare(key) : s.slice(eq + 1);
      if (value !== undefined) out[key] = value;
    }
  } else if (isMapping(v)) {
    for (const [key, raw] of Object.entries(v)) {
      const value = raw === null ? bare(key) : text(raw);
      if (value !== undefined) out[key] = value;
    }
  }
  return out;
}
