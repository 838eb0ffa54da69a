// Reaching a manager: the --host/--identity/--insecure/--stale flags and the connect-run-close helper.
import { readFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { FleetError, errorMessage } from '../../shared/errors.js';
import { identitySchema, type Identity } from '../../shared/identity.js';
import { decode } from '../../shared/protocol.js';
import type { RpcClient } from './rpc-client.js';
import { invalid } from './usage.js';

export const DEFAULT_HOST = '127.0.0.1:4883';
export const DEFAULT_PORT = 4883;
export const DEFAULT_IDENTITY = './fleet-data/manager/admin-identity.json';

export const withConnection = <T>(y: Argv<T>) =>
  y
    .option('host', {
      type: 'string',
      defaultDescription: `$FLEET_HOST, the current context's, or ${DEFAULT_HOST}`,
      describe: 'manager address HOST:PORT; a comma-separated list is tried in order',
      coerce: (v: string | string[]) => [v].flat().join(','), // a repeated --host adds hosts
    })
    .option('identity', {
      type: 'string',
      defaultDescription: `$FLEET_IDENTITY, the current context's, or ${DEFAULT_IDENTITY}`,
      describe: 'identity file that authenticates this client',
      coerce: (v: string | string[]) => [v].flat().at(-1) ?? '', // the last one given wins
    })
    .option('insecure', {
      type: 'boolean',
      default: false,
      describe: 'plain TCP to a manager started with --insecure (or FLEET_INSECURE=1)',
    })
    .option('stale', {
      type: 'boolean',
      default: false,
      describe: "let any manager answer a read from its own copy (may be behind the leader's)",
    });

/** The connection flags as given: any may be absent (see resolveConnection). */
export interface ConnectionFlags {
  host?: string | undefined;
  identity?: string | undefined;
  insecure?: boolean;
  stale?: boolean;
}

/** Where to connect once flags, environment and the current context are weighed. */
export interface ConnectionArgs {
  host: string;
  identity: string;
  insecure?: boolean;
  stale?: boolean;
}

/** How withClient reaches a manager; a test swaps `connect` to capture the requests a command sends. */
export const connector = {
  connect: async (argv: ConnectionArgs): Promise<RpcClient> => {
    const identity = await loadIdentity(argv.identity);
    const { connectClient } = await import('./rpc-client.js');
    return connectClient({
      hosts: parseHosts(argv.host),
      identity,
      insecure: argv.insecure === true,
      stale: argv.stale === true,
      // Warnings go to stderr: stdout may be JSON another program parses.
      onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
    });
  },
};

/** Where the flags lead once the environment, the current context and the defaults are weighed. */
export async function resolvedConnection(argv: ConnectionFlags) {
  const { readContexts, resolveConnection } = await import('./contexts.js');
  return resolveConnection(argv, process.env, await readContexts(), {
    host: DEFAULT_HOST,
    identity: DEFAULT_IDENTITY,
  });
}

/** Loads the identity, connects to a manager, runs `fn`, and always closes the connection. */
export async function withClient<T>(
  argv: ConnectionFlags,
  fn: (client: RpcClient) => Promise<T>,
): Promise<T> {
  const resolved = await resolvedConnection(argv);
  const client = await connector.connect({ ...resolved, stale: argv.stale === true });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export async function loadIdentity(path: string): Promise<Identity> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FleetError(
        'invalid_argument',
        `no identity file at ${path}: pass --identity, set FLEET_IDENTITY or create a context (fleet context create)`,
      );
    }
    throw new FleetError(
      'invalid_argument',
      `cannot read identity file ${path}: ${errorMessage(e)}`,
    );
  }
  const r = decode(identitySchema, text);
  if (!r.ok)
    throw new FleetError('invalid_argument', `identity file ${path} is invalid: ${r.reason}`);
  return r.value;
}

/** "a:4883, b" -> ["a:4883", "b:4883"]. */
export function parseHosts(text: string): string[] {
  const hosts = text
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0)
    .map((h) => (/:\d+$/.test(h) ? h : `${h}:${DEFAULT_PORT}`));
  if (hosts.length === 0) throw invalid('host', text, 'HOST:PORT[,HOST:PORT...]');
  return hosts;
}
