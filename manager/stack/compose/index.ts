// The Compose front end of `fleet stack deploy`: loads Compose files (YAML, schema, interpolation, merging) into a StackPlan, refusing what fleet cannot honour.
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { StackPlan } from '../../../shared/stack.js';
import { stackNameSchema } from '../../../shared/stack.js';
import { castTypes } from './cast.js';
import { MapContext, type ComposeOptions, type ComposeSource } from './context.js';
import { parseDotenv } from './dotenv.js';
import { ComposeError, Problems } from './errors.js';
import { interpolateTree } from './interpolate.js';
import { Locator, type Mapping } from './locator.js';
import { Merger } from './merge.js';
import { buildPlan } from './plan.js';
import { validateSchema } from './schema.js';
import { checkKeys } from './unsupported.js';
import { loadYaml } from './yaml-load.js';

export type { ComposeOptions, ComposeSource } from './context.js';
export { ComposeError, isComposeError, type ComposeProblem } from './errors.js';
export { KEY_TABLE, type KeyRule } from './keys.js';

export interface ComposeResult {
  plan: StackPlan;
  warnings: string[];
  /** The resolved, interpolated, merged YAML: what `stack config` prints. */
  resolved: string;
}

/** The name problems give for standard input. */
export const STDIN_NAME = 'stdin';

/** Loads the files in order into a plan; every problem of every file is reported at once, as a ComposeError. */
export function loadStack(sources: ComposeSource[], opts: ComposeOptions): ComposeResult {
  const problems = new Problems();
  const locator = new Locator();
  if (!stackNameSchema.safeParse(opts.stackName).success)
    problems.add(
      { file: '(command line)' },
      `stack name "${opts.stackName}": ${stackNameSchema.description ?? 'use lower-case letters, digits, "_" and "-" (32 at most)'}`,
    );
  if (sources.length === 0) problems.add({ file: '(command line)' }, 'no Compose file given');
  const lookup = envLookup(opts, problems);
  const roots: Mapping[] = [];
  for (const src of sources) {
    const file = src.path === '-' ? STDIN_NAME : src.path;
    const root = loadYaml(file, src.text, locator, problems);
    if (!root) continue;
    interpolateTree(root, lookup, locator, problems);
    castTypes(root);
    validateSchema(root, locator, problems);
    roots.push(root);
  }
  problems.throwIfAny();
  const merged = new Merger(locator).files(roots);
  checkKeys(merged, locator, problems, opts.ignoreUnsupported === true);
  const resolved = stringify(merged, { lineWidth: 0 });
  const ctx = new MapContext(opts.stackName, opts, merged, locator, problems);
  const plan = buildPlan(ctx, resolved);
  if (!plan) throw new ComposeError(problems.problems);
  return { plan, warnings: problems.warnings, resolved };
}

/** The process environment first, then .env beside the first file (a missing .env is fine). */
function envLookup(opts: ComposeOptions, problems: Problems): (name: string) => string | undefined {
  const dotenv: Record<string, string> = {};
  const path = join(opts.baseDir, '.env');
  let text: string | null = null;
  try {
    text = opts.readFile(path).toString('utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT')
      problems.add({ file: '.env' }, `cannot read ${path}: ${String((e as Error).message ?? e)}`);
  }
  if (text !== null)
    for (const l of parseDotenv(text, (line, why) => problems.add({ file: '.env', line }, why)))
      if (l.value !== undefined) dotenv[l.key] = l.value;
  return (name) => opts.env[name] ?? dotenv[name];
}
