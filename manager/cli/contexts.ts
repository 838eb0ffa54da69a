// Saved contexts, as `docker context` keeps them: manager addresses and an identity file per name, in the user's config directory.
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { FleetError, errorMessage } from '../../shared/errors.js';

export interface Context {
  host: string;
  identity: string;
  insecure?: boolean;
  description?: string;
}

export interface ContextFile {
  current: string | null;
  contexts: Record<string, Context>;
}

/** `$XDG_CONFIG_HOME/fleet`, else `~/.config/fleet`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'fleet');
}

const fileOf = (env?: NodeJS.ProcessEnv): string => path.join(configDir(env), 'contexts.json');

export async function readContexts(env?: NodeJS.ProcessEnv): Promise<ContextFile> {
  const file = fileOf(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, contexts: {} };
    throw new FleetError('invalid_argument', `cannot read ${file}: ${errorMessage(e)}`);
  }
  const parsed = parseContextFile(text);
  if (!parsed) throw new FleetError('invalid_argument', `${file} is not a fleet contexts file`);
  return parsed;
}

function parseContextFile(text: string): ContextFile | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object' || !('contexts' in v) || !('current' in v)) return null;
  const { current, contexts } = v;
  if (current !== null && typeof current !== 'string') return null;
  if (!contexts || typeof contexts !== 'object') return null;
  const out: Record<string, Context> = {};
  for (const [name, c] of Object.entries(contexts as Record<string, unknown>)) {
    if (!c || typeof c !== 'object') return null;
    const { host, identity, insecure, description } = c as Record<string, unknown>;
    if (typeof host !== 'string' || typeof identity !== 'string') return null;
    out[name] = {
      host,
      identity,
      ...(insecure === true ? { insecure: true } : {}),
      ...(typeof description === 'string' ? { description } : {}),
    };
  }
  return { current, contexts: out };
}

export async function writeContexts(file: ContextFile, env?: NodeJS.ProcessEnv): Promise<void> {
  await mkdir(configDir(env), { recursive: true, mode: 0o700 });
  await writeFileAtomic(fileOf(env), JSON.stringify(file, null, 2) + '\n');
}

/** Names of contexts: letters, digits, ".", "_" and "-", as Docker allows. */
export const CONTEXT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

/** Adds or replaces a context; the first one made becomes current, as there is no other. */
export async function saveContext(
  name: string,
  context: Context,
  opts: { use?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const file = await readContexts(opts.env);
  file.contexts[name] = context;
  if (opts.use || file.current === null) file.current = name;
  await writeContexts(file, opts.env);
}

/**
 * The connection settings in force: a flag, else the environment, else the current context
 * (FLEET_CONTEXT names another). A host given by flag or environment is another fleet: the
 * context is then left out entirely, so its identity or --insecure never leak to it.
 */
export interface Resolved {
  host: string;
  identity: string;
  insecure: boolean;
  /** The context used, if any. */
  context: string | null;
}

export function resolveConnection(
  flags: { host?: string | undefined; identity?: string | undefined; insecure?: boolean },
  env: NodeJS.ProcessEnv,
  file: ContextFile,
  defaults: { host: string; identity: string },
): Resolved {
  const name = env.FLEET_CONTEXT || file.current;
  const found = name ? file.contexts[name] : undefined;
  if (env.FLEET_CONTEXT && !found)
    throw new FleetError(
      'invalid_argument',
      `FLEET_CONTEXT names no context: ${env.FLEET_CONTEXT}`,
    );
  const context = flags.host || env.FLEET_HOST ? undefined : found;
  return {
    host: flags.host || env.FLEET_HOST || context?.host || defaults.host,
    identity: flags.identity || env.FLEET_IDENTITY || context?.identity || defaults.identity,
    insecure: flags.insecure === true || env.FLEET_INSECURE === '1' || context?.insecure === true,
    context: context ? (name ?? null) : null,
  };
}
