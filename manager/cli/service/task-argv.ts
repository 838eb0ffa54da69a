// The task's own words on a command line: everything from the image on belongs to the task, as in Docker; and --args split like a shell.
import { UsageError } from '../usage.js';

/** What the scanner needs to know of fleet's flags: which take no value. */
export interface FlagTable {
  /** Flags (long names and one-letter aliases, without dashes) that take no value. */
  booleans: ReadonlySet<string>;
}

/**
 * Splits `words` (the words after `service create`) at the image: fleet's options come before
 * it, the image and everything after it are the task's, untouched. Returns the words for the
 * option parser with `--` placed right after the image, so that nothing after it is read as a
 * flag; a `--` the user wrote there is kept as the separator, not passed to the task.
 */
export function splitAtImage(words: readonly string[], flags: FlagTable): string[] {
  let i = 0;
  while (i < words.length) {
    const w = words[i] ?? '';
    if (w === '--') return [...words];
    if (w.startsWith('--')) i += longFlagWidth(w.slice(2), flags);
    else if (w.startsWith('-') && w.length > 1) i += shortFlagWidth(w.slice(1), flags);
    else {
      const rest = words.slice(i + 1);
      return [...words.slice(0, i + 1), '--', ...(rest[0] === '--' ? rest.slice(1) : rest)];
    }
  }
  return [...words];
}

/** How many words a long flag spans: 1 with `=VALUE` or when it takes no value, else 2. */
function longFlagWidth(body: string, flags: FlagTable): number {
  if (body.includes('=')) return 1;
  const negated = body.startsWith('no-') && flags.booleans.has(body.slice(3));
  return flags.booleans.has(body) || negated ? 1 : 2;
}

/** `-d`, `-dq`, `-p8080:80`, `-p 8080:80`: the first letter that takes a value ends the group. */
function shortFlagWidth(letters: string, flags: FlagTable): number {
  for (let j = 0; j < letters.length; j++) {
    const letter = letters.charAt(j);
    if (flags.booleans.has(letter)) continue;
    return j === letters.length - 1 ? 2 : 1;
  }
  return 1;
}

/**
 * Splits a string into words as a POSIX shell would, without expanding anything: single quotes
 * keep everything, double quotes keep all but `\"` and `\\`, a backslash outside quotes keeps
 * the next character. `a 'b c' "d\"e" f\ g` -> ["a", "b c", 'd"e', "f g"].
 */
export function shellWords(text: string, flag = 'args'): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let i = 0;
  const add = (s: string): void => {
    word = (word ?? '') + s;
  };
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`Invalid value for --${flag}: unterminated ' quote`);
      add(text.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      i = readDoubleQuoted(text, i + 1, add, flag);
    } else if (c === '\\') {
      add(text.charAt(i + 1));
      i += 2;
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
      i++;
    } else {
      add(c);
      i++;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** Reads a double-quoted part starting after its quote; returns the index after the closing one. */
function readDoubleQuoted(text: string, start: number, add: (s: string) => void, flag: string) {
  let i = start;
  add('');
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === '"') return i + 1;
    if (c === '\\' && /["\\$`]/.test(text.charAt(i + 1))) {
      add(text.charAt(i + 1));
      i += 2;
    } else {
      add(c);
      i++;
    }
  }
  throw new UsageError(`Invalid value for --${flag}: unterminated " quote`);
}
