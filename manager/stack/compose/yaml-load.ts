// Reads one Compose file's YAML into plain data, recording the line and column of every value; YAML mistakes become problems.
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Pair,
} from 'yaml';
import type { Loc, Problems } from './errors.js';
import { isMapping, type Locator, type Mapping, type Value } from './locator.js';

/** Aliases may not blow a small file up into a huge one (the "billion laughs"). */
const MAX_NODES = 200_000;
const MAX_DEPTH = 64;

/** The file's top-level mapping, or null when it could not be read (the problems say why). */
export function loadYaml(
  file: string,
  text: string,
  locator: Locator,
  problems: Problems,
): Mapping | null {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const before = problems.count;
  for (const e of doc.errors) {
    const at = lines.linePos(e.pos[0]);
    problems.add({ file, line: at.line, column: at.col }, `invalid YAML: ${firstLine(e.message)}`);
  }
  if (problems.count > before) return null;
  const reader = new Reader(file, doc, lines, locator, problems);
  const root = doc.contents ? reader.read(doc.contents, 0) : null;
  if (reader.failed) return null;
  if (root === null) {
    problems.add({ file, line: 1, column: 1 }, 'the file is empty: a Compose file is a mapping');
    return null;
  }
  if (!isMapping(root)) {
    problems.add(reader.locOf(doc.contents), 'the top level of a Compose file is a mapping');
    return null;
  }
  locator.setSelf(root, { file, line: 1, column: 1 });
  return root;
}

const firstLine = (s: string): string => s.split('\n')[0] ?? s;

class Reader {
  failed = false;
  private nodes = 0;
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly locator: Locator,
    private readonly problems: Problems,
  ) {}

  locOf(node: Node | null | undefined): Loc {
    const start = node?.range?.[0];
    if (start === undefined) return { file: this.file };
    const at = this.lines.linePos(start);
    return { file: this.file, line: at.line, column: at.col };
  }

  private fail(node: Node | null | undefined, message: string): null {
    if (!this.failed) this.problems.add(this.locOf(node), message);
    this.failed = true;
    return null;
  }

  read(node: Node | null | undefined, depth: number): Value {
    if (this.failed) return null;
    if (++this.nodes > MAX_NODES) return this.fail(node, 'the file expands to too many values');
    if (depth > MAX_DEPTH) return this.fail(node, 'the file nests too deeply');
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) return this.fail(node, `unknown alias *${node.source}`);
      return this.read(target, depth + 1);
    }
    if (isScalar(node)) return this.scalar(node);
    if (isSeq(node)) {
      const out: Value[] = [];
      for (const item of node.items) {
        out.push(this.read(item as Node, depth + 1));
        this.locator.setChild(out, out.length - 1, this.locOf(item as Node));
      }
      this.locator.setSelf(out, this.locOf(node));
      return out;
    }
    if (isMap(node)) return this.mapping(node.items as Pair<Node, Node>[], node, depth);
    return this.fail(node, 'unsupported YAML node');
  }

  private scalar(node: Node & { value: unknown }): Value {
    const v = node.value;
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
    if (typeof v === 'bigint') return Number(v);
    return this.fail(node, 'a value of an unsupported YAML type (use a string)');
  }

  private mapping(items: Pair<Node, Node>[], node: Node, depth: number): Value {
    const out: Mapping = {};
    const merged: Pair<Node, Node>[] = [];
    for (const pair of items) {
      if (isScalar(pair.key) && pair.key.value === '<<') merged.push(pair);
      else this.entry(out, pair, depth);
    }
    // Merge keys (<<) add the entries the mapping does not set itself, the first source winning.
    for (const pair of merged) {
      const sources = isSeq(pair.value) ? (pair.value.items as Node[]) : [pair.value];
      for (const src of sources) {
        const value = this.read(src, depth + 1);
        if (!isMapping(value)) return this.fail(src, 'a merge key (<<) takes a mapping');
        for (const [k, v] of Object.entries(value)) {
          if (k in out) continue;
          out[k] = v;
          this.locator.copy(value, k, out, k);
        }
      }
    }
    this.locator.setSelf(out, this.locOf(node));
    return out;
  }

  private entry(out: Mapping, pair: Pair<Node, Node>, depth: number): void {
    const key = pair.key;
    if (!isScalar(key) || (typeof key.value === 'object' && key.value !== null)) {
      this.fail(key, 'a mapping key must be a plain value');
      return;
    }
    const name = String(key.value);
    if (name === '__proto__') {
      this.fail(key, 'the key "__proto__" is not allowed');
      return;
    }
    Object.defineProperty(out, name, {
      value: this.read(pair.value, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    this.locator.setChild(out, name, this.locOf(key));
  }
}
