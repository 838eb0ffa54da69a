// How every ls/ps prints its list: --filter picks items, then --quiet ids, --format json, a table or a template.
import { renderTable } from '../format.js';
import { UsageError } from '../usage.js';
import { compileTemplate, execute, headerOf, text, type Row, type Template } from './template.js';

export interface Column {
  header: string;
  field: string;
}

/** What one list command knows about its items: default columns, template fields, filters. */
export interface Listing<T> {
  /** The default table. */
  columns: readonly Column[];
  /** Rows in display order, one per item, with every field a template may read. */
  rows(items: readonly T[], o: { noTrunc: boolean }): Row[];
  /** Extra fields a template may read beyond the columns' (e.g. Labels). */
  extraFields?: readonly string[];
  /** --filter KEY=VALUE: whether an item matches one value of KEY. */
  filters: Readonly<Record<string, (item: T, value: string) => boolean>>;
}

export interface ListOptions {
  format: string;
  quiet: boolean;
  noTrunc: boolean;
  filter: readonly string[];
}

/** A checked --filter and --format, ready to apply once the items arrive. */
export interface PreparedListing<T> {
  render(items: readonly T[]): string;
}

/** Checks --filter and --format before anything is fetched, so a typo costs no request. */
export function prepareListing<T>(l: Listing<T>, o: ListOptions): PreparedListing<T> {
  const filters = parseFilters(o.filter, Object.keys(l.filters));
  const fields = [...l.columns.map((c) => c.field), ...(l.extraFields ?? [])];
  const format = o.format.trim();
  const template =
    o.quiet || format === 'json' || format === 'table' || format === ''
      ? undefined
      : compileTemplate(format.replace(/^table\s*/, ''), fields);
  return {
    render: (all) => {
      const items = all.filter((item) =>
        [...filters].every(([key, values]) => values.some((v) => l.filters[key]?.(item, v))),
      );
      if (format === 'json' && !o.quiet) return JSON.stringify(items, null, 2) + '\n';
      const rows = l.rows(items, { noTrunc: o.noTrunc });
      if (o.quiet) return rows.map((r) => `${String(r.ID)}\n`).join('');
      if (!template)
        return renderTable(
          l.columns.map((c) => c.header),
          rows.map(cellsOf(l.columns)),
        );
      if (format.startsWith('table')) return templateTable(template, l.columns, rows);
      return rows.map((r) => `${execute(template, r)}\n`).join('');
    },
  };
}

const cellsOf =
  (columns: readonly Column[]) =>
  (r: Row): string[] =>
    columns.map((c) => text(r[c.field]));

/** `table {{.ID}}\t{{.Name}}`: headers from the fields, cells split at tabs and aligned. */
function templateTable(t: Template, columns: readonly Column[], rows: readonly Row[]): string {
  const header = t.parts
    .map((p) => {
      if (p.kind === 'text') return p.text;
      const arg = p.pipeline[0]?.args.find((a) => 'path' in a);
      const field = arg && 'path' in arg ? arg.path.join('.') : '';
      return columns.find((c) => c.field === field)?.header ?? headerOf(field);
    })
    .join('')
    .split('\t');
  return renderTable(
    header,
    rows.map((r) => execute(t, r).split('\t')),
  );
}

/** ["name=web", "name=api", "label=zone"] -> name: [web, api], label: [zone]; a key not in `known` is refused. */
export function parseFilters(
  list: readonly string[],
  known: readonly string[],
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of list) {
    const eq = f.indexOf('=');
    const key = eq > 0 ? f.slice(0, eq) : '';
    if (!known.includes(key)) {
      throw new UsageError(
        `Invalid value for --filter: ${JSON.stringify(f)} (expected KEY=VALUE with KEY one of ${known.join(', ')})`,
      );
    }
    out.set(key, [...(out.get(key) ?? []), f.slice(eq + 1)]);
  }
  return out;
}

/** Docker's label filter: `key` matches any value, `key=value` that value only. */
export function labelMatches(labels: Readonly<Record<string, string>>, value: string): boolean {
  const eq = value.indexOf('=');
  if (eq < 0) return value in labels;
  return labels[value.slice(0, eq)] === value.slice(eq + 1);
}

/** Ids match by prefix, as Docker's do. */
export const idMatches = (id: string, value: string): boolean => id.startsWith(value);
