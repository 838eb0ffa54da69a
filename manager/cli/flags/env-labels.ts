// KEY=VALUE flags: a task's environment (--env, --env-add, --env-rm) and labels (--label).
import { invalid } from '../usage.js';
import { repeatable } from './values.js';

/** Repeated KEY=VALUE flags into a record; without `=` the value is empty unless one is required. */
export function parseKeyValues(
  flag: string,
  items: readonly string[],
  requireValue = false,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key.trim() === '' || (requireValue && eq < 0)) throw invalid(flag, item, 'KEY=VALUE');
    out[key] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

export const envOption = {
  ...repeatable,
  alias: 'e',
  describe: 'environment variable KEY=VALUE, repeatable',
  coerce: (v: string[]) => parseKeyValues('env', v, true),
} as const;

export const envAddOption = {
  ...repeatable,
  describe: 'add or change an environment variable KEY=VALUE',
  coerce: (v: string[]) => parseKeyValues('env-add', v, true),
} as const;

export const envRmOption = { ...repeatable, describe: 'remove an environment variable' } as const;

/** --label (-l) KEY=VALUE; `describe` says what the label is put on. */
export const labelOption = (describe: string) =>
  ({
    ...repeatable,
    alias: 'l',
    describe,
    coerce: (v: string[]) => parseKeyValues('label', v),
  }) as const;
