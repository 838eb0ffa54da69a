// --format templates as Docker reads them, a small subset of Go's text/template: {{.Field}}, pipes, json/upper/lower/title/index/join.
import { UsageError } from '../usage.js';

/** One object a template is run on: `{{.Name}}` reads its Name. */
export type Row = Readonly<Record<string, unknown>>;

/** A compiled template: text and actions in order. */
export interface Template {
  /** The source, for messages. */
  readonly text: string;
  readonly parts: readonly Part[];
}

type Part = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Command[] };
/** `json .Labels` is { fn: 'json', args: [path ['Labels']] }; a bare `.Name` has no fn. */
interface Command {
  fn?: FuncName;
  args: Arg[];
}
type Arg = { path: string[] } | { literal: string };

/** The functions a template may call, with how many arguments each takes. */
const FUNCS: Readonly<Record<string, { arity: number; run: (a: readonly unknown[]) => unknown }>> =
  {
    json: { arity: 1, run: ([v]) => JSON.stringify(v ?? null) },
    upper: { arity: 1, run: ([v]) => text(v).toUpperCase() },
    lower: { arity: 1, run: ([v]) => text(v).toLowerCase() },
    title: { arity: 1, run: ([v]) => text(v).replace(/\b\w/g, (c) => c.toUpperCase()) },
    index: {
      arity: 2,
      run: ([m, key]) =>
        m && typeof m === 'object' ? (m as Record<string, unknown>)[text(key)] : undefined,
    },
    join: {
      arity: 2,
      run: ([list, sep]) => (Array.isArray(list) ? list.map(text).join(text(sep)) : ''),
    },
  };
type FuncName = string;
const isFunc = (w: string): boolean => Object.prototype.hasOwnProperty.call(FUNCS, w);

const bad = (template: string, why: string): UsageError =>
  new UsageError(`Invalid value for --format: ${JSON.stringify(template)} (${why})`);

/**
 * Compiles `source`; `fields` are the names a row has, so `{{.Nmae}}` is refused before any
 * request is made. `\t` and `\n` written as two characters become a tab and a newline.
 */
export function compileTemplate(source: string, fields: readonly string[]): Template {
  const parts: Part[] = [];
  const re = /\{\{-?\s*(.*?)\s*-?\}\}/g;
  let last = 0;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    if (m.index > last) parts.push({ kind: 'text', text: unescape(source.slice(last, m.index)) });
    parts.push({ kind: 'action', pipeline: parsePipeline(source, m[1] ?? '', fields) });
    last = re.lastIndex;
  }
  if (source.slice(last).includes('{{')) throw bad(source, 'an action is not closed with }}');
  if (last < source.length) parts.push({ kind: 'text', text: unescape(source.slice(last)) });
  return { text: source, parts };
}

const unescape = (s: string): string => s.replace(/\\t/g, '\t').replace(/\\n/g, '\n');

function parsePipeline(source: string, action: string, fields: readonly string[]): Command[] {
  const commands = action.split('|').map((c) => c.trim());
  return commands.map((c, i) => {
    const words = c.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
    const [first, ...rest] = words;
    if (first === undefined) throw bad(source, 'an empty action');
    const fn = isFunc(first) ? first : undefined;
    if (!fn && (rest.length > 0 || !first.startsWith('.')))
      throw bad(source, `unknown function "${first}"; known: ${Object.keys(FUNCS).join(', ')}`);
    const args = (fn ? rest : [first]).map((w) => parseArg(source, w, fields));
    // A piped value comes in as the last argument, as in Go.
    const needed = fn ? (FUNCS[fn]?.arity ?? 0) - (i > 0 ? 1 : 0) : i > 0 ? 0 : 1;
    if (args.length !== needed) throw bad(source, `${first} takes ${needed} argument(s)`);
    return fn ? { fn, args } : { args };
  });
}

function parseArg(source: string, word: string, fields: readonly string[]): Arg {
  if (word.startsWith('"')) return { literal: JSON.parse(word) as string };
  if (word === '.') return { path: [] };
  if (!/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(word)) throw bad(source, `cannot read "${word}"`);
  const path = word.slice(1).split('.');
  const head = path[0] ?? '';
  if (!fields.includes(head)) throw bad(source, `no field .${head}; fields: ${fields.join(', ')}`);
  return { path };
}

/** Runs a compiled template on one row. */
export function execute(t: Template, row: object): string {
  return t.parts
    .map((p) => (p.kind === 'text' ? p.text : text(runPipeline(p.pipeline, row))))
    .join('');
}

function runPipeline(pipeline: readonly Command[], row: object): unknown {
  let value: unknown = undefined;
  pipeline.forEach((c, i) => {
    const args = c.args.map((a) => ('literal' in a ? a.literal : lookup(row, a.path)));
    if (i > 0) args.push(value);
    value = c.fn ? FUNCS[c.fn]?.run(args) : args[0];
  });
  return value;
}

function lookup(row: object, path: readonly string[]): unknown {
  let v: unknown = row;
  for (const key of path) v = v && typeof v === 'object' ? (v as Row)[key] : undefined;
  return v;
}

/** How a value prints: strings as they are, absent as "", objects like Go's map printing would be unreadable, so as JSON. */
export function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** "DesiredState" -> "DESIRED STATE": a column's header from its field name, as Docker prints them. */
export function headerOf(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toUpperCase();
}
