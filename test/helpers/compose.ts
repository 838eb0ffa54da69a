// Loading Compose fixtures in unit tests: files from test/fixtures/compose, an in-memory file system, and the problems a load reports.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ComposeError,
  loadStack,
  type ComposeOptions,
  type ComposeResult,
  type ComposeSource,
} from '../../manager/stack/compose/index.js';

/** test/fixtures/compose, found from dist/test/helpers. */
export const COMPOSE_FIXTURES = path.join(import.meta.dirname, '../../../test/fixtures/compose');

export const fixture = (rel: string): ComposeSource => ({
  path: rel,
  text: readFileSync(path.join(COMPOSE_FIXTURES, rel), 'utf8'),
});

/** A readFile over a map of absolute paths; a missing one throws like fs does (code ENOENT). */
export function memoryFiles(files: Record<string, string>): ComposeOptions['readFile'] {
  return (p: string) => {
    const text = files[p];
    if (text === undefined)
      throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
    return Buffer.from(text, 'utf8');
  };
}

export function options(extra: Partial<ComposeOptions> = {}): ComposeOptions {
  return {
    stackName: 'myapp',
    env: {},
    baseDir: '/proj',
    readFile: memoryFiles({}),
    ...extra,
  };
}

export function load(
  sources: ComposeSource | ComposeSource[],
  extra: Partial<ComposeOptions> = {},
): ComposeResult {
  return loadStack(Array.isArray(sources) ? sources : [sources], options(extra));
}

/** A source written in the test. */
export const yaml = (text: string, file = 'compose.yml'): ComposeSource => ({ path: file, text });

/** The problems of a load that must fail, as "file:line:col: message" lines. */
export function problemsOf(
  sources: ComposeSource | ComposeSource[],
  extra: Partial<ComposeOptions> = {},
): string[] {
  try {
    load(sources, extra);
  } catch (e) {
    if (e instanceof ComposeError)
      return e.problems.map(
        (p) =>
          `${[p.file, p.line, p.column].filter((x) => x !== undefined).join(':')}: ${p.message}`,
      );
    throw e;
  }
  throw new Error('the load succeeded but was expected to fail');
}
