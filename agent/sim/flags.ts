// The flags of `fleet sim agents`, checked and turned into a plan: how many boards, where they join, how they are named and reached.
import { parseJoinToken } from '../../shared/identity.js';
import { SIM_LABEL } from '../../shared/sim.js';
import { boardsFitting, parseAddressBase, parseLoopback, type AddressPlan } from './addresses.js';

/** The flags as the command line gave them (yargs' names). */
export interface SimArgs {
  count: string;
  manager?: string[] | undefined;
  token?: string | undefined;
  prefix: string;
  address?: string | undefined;
  'address-base'?: string | undefined;
  label?: string[] | undefined;
  'join-rate': number;
  'data-dir'?: string | undefined;
  keep: boolean;
  'allow-chaos': boolean;
  insecure: boolean;
  'ready-file'?: string | undefined;
  quiet: boolean;
  verbose: boolean;
}

export interface SimPlan {
  count: number;
  /** Empty: the local cluster's (the current context's), found when the run starts. */
  managers: string[];
  token?: string;
  prefix: string;
  addresses: AddressPlan;
  /** Given to every board at join, `fleet.sim=true` among them. */
  labels: Record<string, string>;
  /** Boards started per second at most (joins and restarts alike). */
  joinRate: number;
  /** Absent: a fresh folder in memory-backed storage, or the OS temp dir. */
  dataDir?: string;
  keep: boolean;
  allowChaos: boolean;
  insecure: boolean;
  readyFile?: string;
  quiet: boolean;
  verbose: boolean;
}

/** The most boards one run starts: each is a real agent with its own connection. */
export const MAX_BOARDS = 10_000;
export const DEFAULT_ADDRESS_BASE = '127.1.0.0';
const PREFIX = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,39}$/;
const MAX_JOIN_RATE = 1_000;

export type PlanResult = { ok: true; plan: SimPlan } | { ok: false; error: string };

/** Checks every flag; the first mistake is named with what was expected. */
export function simPlanOf(args: SimArgs): PlanResult {
  const count = /^\d+$/.test(args.count.trim()) ? Number(args.count) : NaN;
  if (!Number.isInteger(count) || count < 1 || count > MAX_BOARDS)
    return fail(`the count must be a whole number from 1 to ${MAX_BOARDS}, got "${args.count}"`);
  if (!PREFIX.test(args.prefix))
    return fail(`--prefix must be letters, digits, "-" or "_" (at most 40), got "${args.prefix}"`);
  const rate = args['join-rate'];
  if (!Number.isFinite(rate) || rate <= 0 || rate > MAX_JOIN_RATE)
    return fail(
      `--join-rate must be a number of joins per second above 0 and at most ${MAX_JOIN_RATE}`,
    );
  const addresses = addressPlanOf(args, count);
  if (!addresses.ok) return addresses;
  const labels = labelsOf(args.label ?? []);
  if (!labels.ok) return labels;
  const managers = managersOf(args.manager ?? []);
  if (!managers.ok) return managers;
  if (args.token !== undefined && !parseJoinToken(args.token))
    return fail('--token must be a join token, FLEET-1-<fingerprint>-<secret>');
  const plan: SimPlan = {
    count,
    managers: managers.value,
    ...(args.token !== undefined ? { token: args.token.trim() } : {}),
    prefix: args.prefix,
    addresses: addresses.value,
    labels: labels.value,
    joinRate: rate,
    ...(args['data-dir'] ? { dataDir: args['data-dir'] } : {}),
    keep: args.keep,
    allowChaos: args['allow-chaos'],
    insecure: args.insecure,
    ...(args['ready-file'] ? { readyFile: args['ready-file'] } : {}),
    quiet: args.quiet,
    verbose: args.verbose,
  };
  return { ok: true, plan };
}

type Part<T> = { ok: true; value: T } | { ok: false; error: string };

const fail = (error: string): { ok: false; error: string } => ({ ok: false, error });

function addressPlanOf(args: SimArgs, count: number): Part<AddressPlan> {
  if (args.address !== undefined && args['address-base'] !== undefined)
    return fail('give --address (one for all boards) or --address-base (one each), not both');
  if (args.address !== undefined) {
    const r = parseLoopback(args.address);
    return r.ok
      ? { ok: true, value: { kind: 'shared', address: args.address } }
      : fail(`--address: ${r.reason}`);
  }
  const text = args['address-base'] ?? DEFAULT_ADDRESS_BASE;
  const r = parseAddressBase(text);
  if (!r.ok) return fail(r.reason);
  if (boardsFitting(r.value) < count)
    return fail(
      `--address-base ${text} leaves room for ${boardsFitting(r.value)} boards in 127.0.0.0/8, not ${count}`,
    );
  return { ok: true, value: { kind: 'base', base: r.value } };
}

function labelsOf(list: readonly string[]): Part<Record<string, string>> {
  const labels: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    if (i <= 0) return fail(`--label must be k=v, got "${l}"`);
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  labels[SIM_LABEL] = 'true';
  return { ok: true, value: labels };
}

/** Repeatable, and each may be a comma-separated list, as `agent start --manager` takes it. */
function managersOf(list: readonly string[]): Part<string[]> {
  const out = list
    .flatMap((m) => m.split(','))
    .map((m) => m.trim())
    .filter(Boolean);
  const bad = out.find(
    (m) => !/^[^\s:]+:\d{1,5}$/.test(m) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(m),
  );
  if (bad !== undefined) return fail(`--manager must be HOST:PORT, got "${bad}"`);
  return { ok: true, value: [...new Set(out)] };
}
