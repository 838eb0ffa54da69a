// Files given to tasks: --secret, --config and their -add/-rm forms, and the parser of NAME[,target=PATH].
import { fileRefSchema, type FileRef } from '../../../shared/spec.js';
import { UsageError } from '../usage.js';
import { repeatable } from './values.js';

export type FileKind = 'secret' | 'config';

/** Where a file appears when no target is given: /run/secrets/NAME for secrets, /NAME for configs. */
export function defaultTarget(kind: FileKind, name: string): string {
  return kind === 'secret' ? `/run/secrets/${name}` : `/${name}`;
}

export function parseFileRef(flag: string, kind: FileKind, text: string): FileRef {
  const expected = 'NAME[,target=PATH] or source=NAME[,target=PATH]';
  const fail = (why: string): UsageError =>
    new UsageError(
      `Invalid value for --${flag}: ${JSON.stringify(text)} (${why}; expected ${expected})`,
    );
  let name: string | undefined;
  let target: string | undefined;
  text.split(',').forEach((part, i) => {
    const eq = part.indexOf('=');
    const key = eq < 0 ? '' : part.slice(0, eq).trim();
    const value = eq < 0 ? part.trim() : part.slice(eq + 1).trim();
    if (eq < 0 && i === 0) name = value;
    else if ((key === 'source' || key === 'src') && name === undefined) name = value;
    else if ((key === 'target' || key === 'dst') && target === undefined) target = value;
    else throw fail(`unexpected "${part}"`);
  });
  if (!name) throw fail(`no ${kind} name`);
  // A relative target is a file name: under /run/secrets for secrets, under / for configs.
  const full =
    target === undefined
      ? defaultTarget(kind, name)
      : target.startsWith('/')
        ? target
        : defaultTarget(kind, target);
  const r = fileRefSchema.safeParse({ name, target: full });
  if (!r.success) throw fail(r.error.issues[0]?.message ?? 'invalid');
  return r.data;
}

export function parseFileRefs(flag: string, kind: FileKind, items: readonly string[]): FileRef[] {
  return items.map((t) => parseFileRef(flag, kind, t));
}

/** --secret or --config on `service create`. */
export const fileRefOption = (kind: FileKind) =>
  ({
    ...repeatable,
    describe:
      kind === 'secret'
        ? 'give tasks a secret: NAME[,target=PATH] (default /run/secrets/NAME), repeatable'
        : 'give tasks a config: NAME[,target=PATH] (default /NAME), repeatable',
    coerce: (v: string[]) => parseFileRefs(kind, kind, v),
  }) as const;

/** --secret-add or --config-add on `service update`. */
export const fileRefAddOption = (kind: FileKind) =>
  ({
    ...repeatable,
    describe: `add a ${kind} NAME[,target=PATH]; one at the same target is replaced`,
    coerce: (v: string[]) => parseFileRefs(`${kind}-add`, kind, v),
  }) as const;

/** --secret-rm or --config-rm on `service update`. */
export const fileRefRmOption = (kind: FileKind) =>
  ({ ...repeatable, describe: `stop giving tasks a ${kind} (NAME)` }) as const;
