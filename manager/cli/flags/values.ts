// Parsers for the kinds of value a flag takes (durations, sizes, counts, ratios, choices); each error names the flag.
import { parseBytes, parseDuration } from '../../../shared/spec.js';
import { invalid } from '../usage.js';

/** A flag that may be given many times, each time with one value. */
export const repeatable = {
  type: 'string',
  array: true,
  nargs: 1,
  default: [] as string[],
} as const;

export function durationFlag(flag: string, text: string): number {
  const ms = parseDuration(String(text));
  if (ms === null) throw invalid(flag, String(text), 'a duration such as 500ms, 10s, 5m or 1h');
  return ms;
}

export function bytesFlag(flag: string, text: string): number {
  const n = parseBytes(String(text));
  if (n === null) throw invalid(flag, String(text), 'a size such as 64M, 1.5G or 512k');
  return n;
}

/** Whole numbers >= 0. Numeric flags are declared untyped so a bad value reaches here verbatim. */
export function countFlag(flag: string, value: unknown): number {
  const text = String(value);
  if (!/^\d+$/.test(text.trim())) throw invalid(flag, text, 'a whole number >= 0');
  return Number(text);
}

export function nonNegativeFlag(flag: string, value: unknown): number {
  const text = String(value);
  if (!/^\d+(\.\d+)?$/.test(text.trim())) throw invalid(flag, text, 'a number >= 0');
  return Number(text);
}

/** One of `choices`, or a usage error naming the flag and what it takes. */
export function choiceFlag<C extends string>(
  flag: string,
  value: unknown,
  choices: readonly C[],
): C {
  const text = String(value);
  if (!(choices as readonly string[]).includes(text)) throw invalid(flag, text, choices.join('|'));
  return text as C;
}

/** A share from 0 to 1, such as 0.25. */
export function ratioFlag(flag: string, value: unknown): number {
  const text = String(value).trim();
  const n = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || n > 1) throw invalid(flag, text, 'a number from 0 to 1');
  return n;
}

/** A flag whose value is a whole number of something, such as --replicas. */
export const countOption = (flag: string, describe: string) =>
  ({ requiresArg: true, describe, coerce: (v: unknown) => countFlag(flag, v) }) as const;

/** A flag whose value is a duration, such as --restart-delay 5s. */
export const durationOption = (flag: string, describe: string) =>
  ({ type: 'string', describe, coerce: (v: string) => durationFlag(flag, v) }) as const;
