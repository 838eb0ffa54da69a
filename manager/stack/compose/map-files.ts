// Secrets and configs: the top-level ones (from file:, content: or environment:, or external) and a service's uses of them.
import type { FileRef } from '../../../shared/spec.js';
import type { StackFile } from '../../../shared/stack.js';
import { keyValues, type MapContext } from './context.js';
import { isMapping, type Mapping, text } from './locator.js';

export type FileKind = 'secrets' | 'configs';

/** The stack's own secrets or configs used by some service, created from their content, and the external ones. */
export function mapFiles(ctx: MapContext, kind: FileKind, used: ReadonlySet<string>): StackFile[] {
  const section = ctx.section(kind);
  const out: StackFile[] = [];
  const what = kind === 'secrets' ? 'secret' : 'config';
  for (const [key, v] of Object.entries(section)) {
    if (!used.has(key)) continue;
    const decl = isMapping(v) ? v : {};
    const name = fullName(ctx, key, decl);
    const labels = keyValues(decl.labels);
    if (isExternal(decl)) {
      out.push({ name, external: true, labels });
      continue;
    }
    let data: Buffer | null = null;
    if (typeof decl.file === 'string')
      data = ctx.read(decl.file, decl, 'file', `${what} "${key}": file`);
    else if (typeof decl.content === 'string') data = Buffer.from(decl.content, 'utf8');
    else if (typeof decl.environment === 'string') {
      const value = ctx.opts.env[decl.environment];
      if (value === undefined)
        ctx.problem(
          decl,
          'environment',
          `${what} "${key}": the variable ${decl.environment} is not set`,
        );
      else data = Buffer.from(value, 'utf8');
    } else
      ctx.problem(
        section,
        key,
        `${what} "${key}": needs file:, ${kind === 'configs' ? 'content:, ' : ''}environment: or external: true`,
      );
    if (data) out.push({ name, external: false, data: data.toString('base64'), labels });
  }
  return out;
}

const isExternal = (decl: Mapping): boolean => decl.external === true || isMapping(decl.external);

/** STACK_KEY, or the name: given (external ones keep their own name). */
function fullName(ctx: MapContext, key: string, decl: Mapping): string {
  if (typeof decl.name === 'string') return decl.name;
  const ext = decl.external;
  if (isMapping(ext) && typeof ext.name === 'string') return ext.name;
  return isExternal(decl) ? key : ctx.scoped(key);
}

/** A service's secrets: or configs: as references to the full names, each with its target path. */
export function mapFileRefs(
  ctx: MapContext,
  svc: Mapping,
  kind: FileKind,
  name: string,
  used: Set<string>,
): FileRef[] {
  const list = svc[kind];
  if (!Array.isArray(list)) return [];
  const section = ctx.section(kind);
  const what = kind === 'secrets' ? 'secret' : 'config';
  const out: FileRef[] = [];
  list.forEach((item, i) => {
    const source = isMapping(item) ? text(item.source ?? '') : text(item);
    if (!(source in section)) {
      ctx.problem(
        list,
        i,
        `service "${name}": the ${what} "${source}" is not declared under the top-level ${kind}:`,
      );
      return;
    }
    used.add(source);
    const decl = section[source];
    const given = isMapping(item) && typeof item.target === 'string' ? item.target : undefined;
    out.push({
      name: fullName(ctx, source, isMapping(decl) ? decl : {}),
      target: target(kind, source, given),
    });
  });
  return out;
}

/** Secrets default to /run/secrets/SOURCE (relative targets go there too); configs to /SOURCE. */
function target(kind: FileKind, source: string, given: string | undefined): string {
  const t = given ?? source;
  if (t.startsWith('/')) return t;
  return kind === 'secrets' ? `/run/secrets/${t}` : `/${t}`;
}
