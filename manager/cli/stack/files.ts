// Reading a stack's Compose files for the CLI: -c FILE (or - for standard input), resolved by manager/stack/compose.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FleetError, errorMessage } from '../../../shared/errors.js';

export const composeFileOption = {
  alias: ['c', 'compose-file'],
  type: 'string',
  array: true,
  nargs: 1,
  demandOption: 'give the Compose file with -c FILE (or -c - for standard input)',
  describe: 'Compose file, repeatable (later files override earlier ones); - reads stdin',
} as const;

export const ignoreUnsupportedOption = {
  type: 'boolean',
  default: false,
  describe: 'deploy despite Compose keys fleet does not honour, with one warning per key',
} as const;

/** Loads and resolves the files into a stack plan; a ComposeError lists every problem found. */
export async function loadComposeFiles(
  stackName: string,
  files: readonly string[],
  ignoreUnsupported: boolean,
) {
  const { loadStack } = await import('../../stack/compose/index.js');
  const sources = await Promise.all(
    files.map(async (f) => ({ path: f, text: f === '-' ? await readStdin() : readText(f) })),
  );
  const first = files[0] ?? '-';
  const baseDir = first === '-' ? process.cwd() : path.dirname(path.resolve(first));
  return loadStack(sources, {
    stackName,
    env: process.env,
    baseDir,
    readFile: (p) => readFileSync(p),
    ignoreUnsupported,
  });
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new FleetError('invalid_argument', `cannot read ${file}: ${errorMessage(e)}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}
