// Compose's variable interpolation in values (never keys): $VAR, ${VAR}, the :- - :? ? :+ + forms, nesting, and $$.
import type { Loc, Problems } from './errors.js';
import { isMapping, type Locator, type Value } from './locator.js';

export type Lookup = (name: string) => string | undefined;

/** What went wrong in one template: a missing required variable, or a malformed template. */
export class TemplateError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Expands one string. `unset` is told of each plain variable that has no value (it becomes "",
 * as docker compose does); a `${VAR:?message}` without a value throws a TemplateError.
 */
export function expand(text: string, lookup: Lookup, unset: (name: string) => void): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) return out + text.slice(i);
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const end = closingBrace(text, dollar + 2);
      if (end < 0) throw new TemplateError(`invalid interpolation "${text}": no closing "}"`);
      out += braced(text.slice(dollar + 2, end), lookup, unset);
      i = end + 1;
    } else {
      const m = NAME.exec(text.slice(dollar + 1));
      if (!m) throw new TemplateError(`invalid interpolation "${text}": write $$ for a literal $`);
      out += plain(m[0], lookup, unset);
      i = dollar + 1 + m[0].length;
    }
  }
  return out;
}

/** The index of the "}" closing a "${" opened just before `from`, counting nested "${". */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') i++;
    else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function plain(name: string, lookup: Lookup, unset: (name: string) => void): string {
  const v = lookup(name);
  if (v === undefined) unset(name);
  return v ?? '';
}

function braced(inner: string, lookup: Lookup, unset: (name: string) => void): string {
  const m = NAME.exec(inner);
  if (!m) throw new TemplateError(`invalid interpolation "\${${inner}}": a variable name`);
  const name = m[0];
  const rest = inner.slice(name.length);
  if (rest === '') return plain(name, lookup, unset);
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (!op) throw new TemplateError(`invalid interpolation "\${${inner}}"`);
  const arg = (): string => expand(rest.slice(op.length), lookup, unset);
  const v = lookup(name);
  const empty = v === undefined || (op.startsWith(':') && v === '');
  switch (op) {
    case ':-':
    case '-':
      return empty ? arg() : (v ?? '');
    case ':?':
    case '?':
      if (empty) {
        const why = arg();
        throw new TemplateError(
          `required variable ${name} is ${v === undefined ? 'not set' : 'empty'}${why ? `: ${why}` : ''}`,
        );
      }
      return v ?? '';
    default:
      return empty ? '' : arg();
  }
}

/** Expands every string value of a file's tree in place; problems and warnings name the line. */
export function interpolateTree(
  root: Value,
  lookup: Lookup,
  locator: Locator,
  problems: Problems,
): void {
  const visit = (parent: Value[] | Record<string, Value>, key: string | number): void => {
    const v = (parent as Record<string | number, Value>)[key];
    const loc: Loc | undefined = locator.at(parent, key);
    if (typeof v === 'string' && v.includes('$')) {
      try {
        const out = expand(v, lookup, (name) =>
          problems.warn(loc, `the variable ${name} is not set; it stands for an empty string`),
        );
        (parent as Record<string | number, Value>)[key] = out;
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        problems.add(loc, e.message);
      }
    } else if (Array.isArray(v)) v.forEach((_, i) => visit(v, i));
    else if (isMapping(v)) for (const k of Object.keys(v)) visit(v, k);
  };
  if (Array.isArray(root)) root.forEach((_, i) => visit(root, i));
  else if (isMapping(root)) for (const k of Object.keys(root)) visit(root, k);
}
