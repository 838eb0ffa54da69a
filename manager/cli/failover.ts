// What the CLI does when a manager cannot answer: which hosts it knows, and whether to redirect, wait, fail over or give up.
import { FleetError, type ErrorCode } from '../../shared/errors.js';
import { leaderElsewhere, normalizeAddress } from '../../shared/leader.js';
import type { LeaderInfo } from '../../shared/protocol.js';

/** A 'not_leader' answer names the leader; more hops than this mean the managers disagree. */
export const MAX_REDIRECTS = 3;
/** Pause before asking again while an election runs or quorum is lost, or after every host failed. */
export const RETRY_BACKOFF_MS = 200;

/** An error a manager sent (rather than one of the connection), with its leader info if any. */
export class ManagerError extends FleetError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly leader?: LeaderInfo,
  ) {
    super(code, message);
  }
}

interface Host {
  address: string;
  /** The manager's id once leader info named it: one manager may be reachable under two names. */
  id?: string;
}

/** The managers the CLI may try, in order: the ones it was given, then the ones it learned of. */
export class HostBook {
  private readonly hosts: Host[] = [];

  constructor(addresses: readonly string[]) {
    for (const address of addresses) this.add(address, undefined);
  }

  get size(): number {
    return this.hosts.length;
  }

  get addresses(): string[] {
    return this.hosts.map((h) => h.address);
  }

  /** Leader info sent by the manager at `from`: tells that manager's id and where the rest are. */
  learn(info: LeaderInfo, from: string): void {
    this.tag(from, info.from);
    const named = info.leader ? [info.leader, ...info.managers] : info.managers;
    for (const m of named) this.add(m.address, m.id);
  }

  /** The address to use for a manager: the one already known for its id, else the one given. */
  resolve(address: string, id?: string): string {
    return (id && this.hosts.find((h) => h.id === id)?.address) || address;
  }

  /** The host to try after `address` failed: the next one in order, wrapping around. */
  after(address: string): string {
    const i = this.indexOf(address);
    const next = this.hosts[(i + 1) % this.hosts.length];
    return next?.address ?? address;
  }

  private indexOf(address: string): number {
    const key = normalizeAddress(address);
    return this.hosts.findIndex((h) => normalizeAddress(h.address) === key);
  }

  private add(address: string, id: string | undefined): void {
    if (address.trim() === '') return;
    if (id !== undefined && this.hosts.some((h) => h.id === id)) return;
    const known = this.hosts[this.indexOf(address)];
    if (known) known.id ??= id;
    else this.hosts.push(id === undefined ? { address } : { address, id });
  }

  /** The manager at `address` is `id`: an entry learned for that id under another name goes. */
  private tag(address: string, id: string): void {
    const here = this.hosts[this.indexOf(address)];
    if (!here) return;
    here.id = id;
    const dup = this.hosts.findIndex((h) => h.id === id && h !== here);
    if (dup >= 0) this.hosts.splice(dup, 1);
  }
}

export type Next =
  | { action: 'redirect'; host: string; id: string }
  | { action: 'wait'; ms: number }
  | { action: 'failover'; host: string; ms: number }
  | { action: 'fail'; error: unknown };

/** A manager that did not answer is skipped for this long, then given another chance. */
const SILENCE_MS = 1_000;

/**
 * The retry budget of one call. Redirects that reach a manager are counted; the managers'
 * answers decide the rest: an election is waited out; a named leader that does not answer (it
 * may be the one that just died) is asked about again after a pause; a manager without quorum
 * or without an answer makes the call try the next one, and it fails once every manager said
 * "no quorum" or was silent.
 */
export class CallPlan {
  private redirects = 0;
  private lastRedirect: string | null = null;
  private readonly silentAt = new Map<string, number>();
  private readonly noQuorum = new Set<string>();

  constructor(private readonly deadline: number) {}

  remaining(now: number): number {
    return Math.max(0, this.deadline - now);
  }

  /** What to do after `err` from the manager at `host`, knowing the managers `hosts`. */
  next(err: unknown, now: number, host: string, hosts: readonly string[]): Next {
    if (!(err instanceof FleetError)) return { action: 'fail', error: err };
    const fromManager = err instanceof ManagerError;
    switch (err.code) {
      case 'not_leader':
        return this.redirect(err, now, host);
      case 'no_quorum': {
        this.noQuorum.add(normalizeAddress(host));
        const other = this.untried(host, hosts, now);
        if (!other || now >= this.deadline) return { action: 'fail', error: err };
        return { action: 'failover', host: other, ms: 0 };
      }
      case 'unavailable': {
        // A manager saying so is an answer; only a silent or lost manager warrants another.
        if (fromManager || hosts.length < 2 || now >= this.deadline)
          return { action: 'fail', error: err };
        this.silentAt.set(normalizeAddress(host), now);
        if (this.lastRedirect === normalizeAddress(host)) this.redirects--;
        this.lastRedirect = null;
        const other = this.untried(host, hosts, now);
        // Every one silent: pause, they may be restarting or electing.
        if (!other) return { action: 'failover', host: nextOf(host, hosts), ms: RETRY_BACKOFF_MS };
        return { action: 'failover', host: other, ms: 0 };
      }
      default:
        return { action: 'fail', error: err };
    }
  }

  private redirect(err: FleetError, now: number, host: string): Next {
    const info = err instanceof ManagerError ? err.leader : undefined;
    const target = info ? leaderElsewhere(info, host) : null;
    // No leader named, or only the asked manager itself: an election is running.
    if (!info?.leader || target === null) return this.backoff(err, now);
    // The named leader just failed to answer, or said it has no quorum: the managers have not
    // noticed yet. Ask again shortly rather than go round in circles.
    if (this.isSilent(target, now) || this.noQuorum.has(normalizeAddress(target)))
      return this.backoff(err, now);
    this.redirects++;
    if (this.redirects > MAX_REDIRECTS) {
      const message = `gave up after ${MAX_REDIRECTS} redirects: the managers do not agree on a leader (last named ${target})`;
      return { action: 'fail', error: new FleetError('unavailable', message) };
    }
    this.lastRedirect = normalizeAddress(target);
    return { action: 'redirect', host: target, id: info.leader.id };
  }

  private backoff(err: FleetError, now: number): Next {
    if (now + RETRY_BACKOFF_MS >= this.deadline) return { action: 'fail', error: err };
    return { action: 'wait', ms: RETRY_BACKOFF_MS };
  }

  private isSilent(host: string, now: number): boolean {
    const at = this.silentAt.get(normalizeAddress(host));
    return at !== undefined && now - at < SILENCE_MS;
  }

  /** The next manager after `host` that has neither gone silent nor reported no quorum. */
  private untried(host: string, hosts: readonly string[], now: number): string | null {
    const self = normalizeAddress(host);
    for (const h of rotation(host, hosts)) {
      if (normalizeAddress(h) === self) continue;
      if (!this.isSilent(h, now) && !this.noQuorum.has(normalizeAddress(h))) return h;
    }
    return null;
  }
}

/** The hosts in order, starting with the one after `host` (wrapping around). */
function rotation(host: string, hosts: readonly string[]): string[] {
  const i = hosts.findIndex((h) => normalizeAddress(h) === normalizeAddress(host));
  return [...hosts.slice(i + 1), ...hosts.slice(0, i + 1)];
}

const nextOf = (host: string, hosts: readonly string[]): string => rotation(host, hosts)[0] ?? host;
