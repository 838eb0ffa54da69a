// Shared flags, flag-value parsers (up to a whole service spec) and the connect-run-close helper.
import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { FleetError, errorMessage } from '../../shared/errors.js';
import { identitySchema, type Identity } from '../../shared/identity.js';
import { decode } from '../../shared/protocol.js';
import {
  parseBytes,
  parseConstraint,
  parseDuration,
  serviceSpecSchema,
  type FileRef,
  type Healthcheck,
  type ServiceSpec,
  type UpdateConfig,
  type portSchema,
} from '../../shared/spec.js';
import type { z } from 'zod';
import type { RpcClient } from './rpc-client.js';

export const DEFAULT_HOST = '127.0.0.1:4883';
export const DEFAULT_PORT = 4883;
export const DEFAULT_IDENTITY = './fleet-data/manager/admin-identity.json';
export const DEFAULT_CONVERGE_TIMEOUT = '5m';

/** A mistake on the command line: printed with a --help hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type PortInput = z.input<typeof portSchema>;

/** Identity at runtime; lets the handler's argv type follow from what the builder declares. */
export const defineCommand = <U>(m: CommandModule<object, U>): CommandModule<object, U> => m;

// ---- flag builders: the same letters and wording on every command

export const withConnection = <T>(y: Argv<T>) =>
  y
    .option('host', {
      type: 'string',
      default: process.env.FLEET_HOST ?? DEFAULT_HOST,
      defaultDescription: `$FLEET_HOST or ${DEFAULT_HOST}`,
      describe: 'manager address HOST:PORT; a comma-separated list is tried in order',
      coerce: (v: string | string[]) => [v].flat().join(','), // a repeated --host adds hosts
    })
    .option('identity', {
      type: 'string',
      default: process.env.FLEET_IDENTITY ?? DEFAULT_IDENTITY,
      defaultDescription: `$FLEET_IDENTITY or ${DEFAULT_IDENTITY}`,
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

export const withFormat = <T>(y: Argv<T>) =>
  y.option('format', {
    choices: ['table', 'json'] as const,
    default: 'table' as const,
    describe: 'output format',
  });

export const withProgress = <T>(y: Argv<T>) =>
  y
    .option('detach', {
      alias: 'd',
      type: 'boolean',
      default: false,
      describe: 'return at once instead of waiting for the service to converge',
    })
    .option('timeout', {
      type: 'string',
      default: DEFAULT_CONVERGE_TIMEOUT,
      describe: 'how long to wait for convergence (e.g. 30s, 5m)',
      coerce: (v: string) => durationFlag('timeout', v),
    });

export interface ConnectionArgs {
  host: string;
  identity: string;
  insecure?: boolean;
  stale?: boolean;
}

/** Loads the identity, connects to a manager, runs `fn`, and always closes the connection. */
export async function withClient<T>(
  argv: ConnectionArgs,
  fn: (client: RpcClient) => Promise<T>,
): Promise<T> {
  const identity = await loadIdentity(argv.identity);
  const { connectClient } = await import('./rpc-client.js');
  const client = await connectClient({
    hosts: parseHosts(argv.host),
    identity,
    insecure: argv.insecure === true,
    stale: argv.stale === true,
    // Warnings go to stderr: stdout may be JSON another program parses.
    onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
  });
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
        `no identity file at ${path}: pass --identity or set FLEET_IDENTITY`,
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

// ---- flag value parsers: each throws a UsageError naming the flag

export const invalid = (flag: string, value: string, expected: string): UsageError =>
  new UsageError(`Invalid value for --${flag}: ${JSON.stringify(value)} (expected ${expected})`);

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

/** `8080:80`, `8080:80/udp`, `80`, or `published=8080,target=80,protocol=tcp,mode=host`. */
export function parsePublish(text: string): PortInput {
  const expected =
    'PUBLISHED:TARGET[/udp] or published=N,target=N[,protocol=tcp|udp][,mode=ingress|host][,proxy=v1|v2]';
  const port = text.includes('=') ? parseLongPublish(text) : parseShortPublish(text);
  if (!port) throw invalid('publish', text, expected);
  return port;
}

function parseShortPublish(text: string): PortInput | null {
  const m = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(text.trim());
  if (!m || !m[2]) return null;
  const port: PortInput = { target: Number(m[2]), protocol: m[3] === 'udp' ? 'udp' : 'tcp' };
  if (m[1] !== undefined) port.published = Number(m[1]);
  return validPort(port) ? port : null;
}

function parseLongPublish(text: string): PortInput | null {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const [key, value, extra] = part.split('=').map((s) => s.trim());
    if (!key || value === undefined || extra !== undefined || fields.has(key)) return null;
    fields.set(key, value);
  }
  const {
    published,
    target,
    protocol = 'tcp',
    mode = 'ingress',
    proxy,
  } = Object.fromEntries(fields);
  const known = ['published', 'target', 'protocol', 'mode', 'proxy'];
  if ([...fields.keys()].some((k) => !known.includes(k)) || target === undefined) return null;
  if ((protocol !== 'tcp' && protocol !== 'udp') || (mode !== 'ingress' && mode !== 'host'))
    return null;
  if (!/^\d+$/.test(target) || (published !== undefined && !/^\d+$/.test(published))) return null;
  if (proxy !== undefined && proxy !== 'v1' && proxy !== 'v2') return null;
  const port: PortInput = { target: Number(target), protocol, mode };
  if (proxy !== undefined) port.proxy = proxy;
  if (published !== undefined) port.published = Number(published);
  return validPort(port) ? port : null;
}

const inRange = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
const validPort = (p: PortInput): boolean =>
  inRange(p.target) && (p.published === undefined || inRange(p.published));

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

const CONSTRAINT_HELP =
  'node.id|hostname|role|platform.arch|platform.os|labels.KEY followed by == or != and a value';

export function constraintsFlag(flag: string, items: readonly string[]): string[] {
  for (const c of items) if (parseConstraint(c) === null) throw invalid(flag, c, CONSTRAINT_HELP);
  return [...items];
}

// ---- service create: from parsed flags to a validated spec

/** The parsed flags of `service create`, after each flag's own parser has run. */
export interface CreateFlags {
  name: string;
  image: string;
  command?: string[];
  mode?: 'replicated' | 'global';
  replicas?: number;
  env?: Record<string, string>;
  publish?: PortInput[];
  constraint?: string[];
  reserveCpu?: number;
  reserveMemory?: number;
  maxReplicasPerNode?: number;
  restartCondition?: 'none' | 'on-failure' | 'any';
  restartDelay?: number;
  restartMaxAttempts?: number;
  restartWindow?: number;
  stopGracePeriod?: number;
  drainTimeout?: number;
  init?: boolean;
  /** The health check built from the --health-* flags. */
  health?: Healthcheck;
  label?: Record<string, string>;
  secret?: FileRef[];
  config?: FileRef[];
  /** Update and rollback settings built from the --update-* and --rollback-* flags. */
  update?: UpdateConfig;
  rollback?: UpdateConfig;
}

/** Builds the spec from the flags and validates it here, so mistakes are usage errors naming a flag. */
export function buildSpec(f: CreateFlags): ServiceSpec {
  if (f.mode === 'global' && f.replicas !== undefined) {
    throw new UsageError('--replicas can only be used with --mode replicated');
  }
  const r = serviceSpecSchema.safeParse({
    name: f.name,
    mode: f.mode,
    replicas: f.replicas,
    task: {
      image: f.image,
      command: f.command,
      env: f.env,
      ports: f.publish,
      restart: {
        condition: f.restartCondition,
        delayMs: f.restartDelay,
        maxAttempts: f.restartMaxAttempts,
        windowMs: f.restartWindow,
      },
      resources: { cpu: f.reserveCpu ?? 0, memoryBytes: f.reserveMemory ?? 0 },
      stopGracePeriodMs: f.stopGracePeriod,
      ...(f.drainTimeout !== undefined ? { drainTimeoutMs: f.drainTimeout } : {}),
      ...(f.init !== undefined ? { init: f.init } : {}),
      ...(f.health ? { healthcheck: f.health } : {}),
      secrets: f.secret,
      configs: f.config,
    },
    constraints: f.constraint,
    maxReplicasPerNode: f.maxReplicasPerNode,
    labels: f.label,
    ...(f.update ? { update: f.update } : {}),
    ...(f.rollback ? { rollback: f.rollback } : {}),
  });
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  const flag = FLAG_FOR_PATH.find(([prefix]) => path === prefix || path.startsWith(prefix + '.'));
  throw new UsageError(`Invalid value for ${flag?.[1] ?? path}: ${issue?.message ?? 'invalid'}`);
}

const FLAG_FOR_PATH: readonly (readonly [string, string])[] = [
  ['name', '--name'],
  ['mode', '--mode'],
  ['replicas', '--replicas'],
  ['task.image', 'IMAGE'],
  ['task.command', 'COMMAND'],
  ['task.env', '--env'],
  ['task.ports', '--publish'],
  ['task.restart.condition', '--restart-condition'],
  ['task.restart.delayMs', '--restart-delay'],
  ['task.restart.maxAttempts', '--restart-max-attempts'],
  ['task.restart.windowMs', '--restart-window'],
  ['task.resources.cpu', '--reserve-cpu'],
  ['task.resources.memoryBytes', '--reserve-memory'],
  ['task.stopGracePeriodMs', '--stop-grace-period'],
  ['task.drainTimeoutMs', '--drain-timeout'],
  ['task.healthcheck', '--health-cmd'],
  ['task.secrets', '--secret'],
  ['task.configs', '--config'],
  ['constraints', '--constraint'],
  ['maxReplicasPerNode', '--max-replicas-per-node'],
  ['labels', '--label'],
  ['update.parallelism', '--update-parallelism'],
  ['update.delayMs', '--update-delay'],
  ['update.monitorMs', '--update-monitor'],
  ['update.failureAction', '--update-failure-action'],
  ['update.maxFailureRatio', '--update-max-failure-ratio'],
  ['update.order', '--update-order'],
  ['update.canary', '--update-canary'],
  ['update.canaryPercent', '--update-canary'],
  ['update.autoPromote', '--update-auto-promote'],
  ['update', '--update-*'],
  ['rollback.parallelism', '--rollback-parallelism'],
  ['rollback.delayMs', '--rollback-delay'],
  ['rollback.monitorMs', '--rollback-monitor'],
  ['rollback.failureAction', '--rollback-failure-action'],
  ['rollback.maxFailureRatio', '--rollback-max-failure-ratio'],
  ['rollback.order', '--rollback-order'],
  ['rollback', '--rollback-*'],
];

/** "web=3" -> { service: "web", replicas: 3 }. */
export function parseScale(text: string): { service: string; replicas: number } {
  const m = /^([^=\s]+)=(\d+)$/.exec(text.trim());
  if (!m || !m[1] || !m[2]) {
    throw new UsageError(`Invalid argument ${JSON.stringify(text)} (expected SERVICE=REPLICAS)`);
  }
  return { service: m[1], replicas: Number(m[2]) };
}
