// The CLI's connection to the managers: requests out, replies matched by id, following the Raft leader.
import { WRITE_METHODS, type Method, type Params, type Results } from '../../shared/api.js';
import { FleetError } from '../../shared/errors.js';
import { randomId, type Identity } from '../../shared/identity.js';
import type { RpcRequest } from '../../shared/protocol.js';
import { CallPlan, HostBook, ManagerError } from './failover.js';
import type { BlobSession } from './blob-session.js';
import {
  closeSession,
  openSession,
  seconds,
  send,
  type OkResponse,
  type Session,
} from './rpc-session.js';

export interface RpcClient {
  /** The HOST:PORT of the manager in use. */
  readonly host: string;
  /** Every manager this client may fail over to: those it was given, then those it learned of. */
  readonly knownHosts: readonly string[];
  call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]>;
  close(): Promise<void>;
  /** A connection to the blob channel of the manager in use (the leader, once a write went through). */
  openBlobs?(): Promise<BlobSession>;
}

export interface ConnectOptions {
  hosts: string[];
  identity: Identity;
  /** Bounds the connection attempt to each host and the wait for each reply. */
  timeoutMs?: number;
  /** Plain TCP to a manager started with --insecure (also FLEET_INSECURE=1). */
  insecure?: boolean;
  /** Reads may be answered by any manager from its own copy, without the leader. */
  stale?: boolean;
  /** Told why an answer may be stale; the CLI prints it on stderr, away from the output. */
  onWarning?: (message: string) => void;
  /**
   * Every call goes to the first host and no other: no redirect to the leader, no failover.
   * For what one manager answers about itself (chaos.send of a manager fault).
   */
  pinned?: boolean;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** A call keeps trying other managers for this many timeouts: a failover takes a few seconds. */
const FAILOVER_TIMEOUTS = 3;

export async function connectClient(opts: ConnectOptions): Promise<RpcClient> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const book = new HostBook(opts.hosts);
  for (const host of opts.hosts) {
    const session = await openSession(host, opts, timeoutMs, book);
    if (session) return new LeaderFollowingClient(opts, timeoutMs, book, session);
  }
  throw new FleetError(
    'unavailable',
    `no manager answered at ${opts.hosts.join(', ')} within ${seconds(timeoutMs)}`,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends each call to the leader: follows redirects, waits out elections, fails over. */
class LeaderFollowingClient implements RpcClient {
  private session: Session;
  private target: string;
  private opening: { host: string; session: Promise<Session | null> } | null = null;
  private readonly retired = new Set<Session>();

  constructor(
    private readonly opts: ConnectOptions,
    private readonly timeoutMs: number,
    private readonly book: HostBook,
    session: Session,
  ) {
    this.session = session;
    this.target = session.host;
  }

  get host(): string {
    return this.session.host;
  }

  get knownHosts(): readonly string[] {
    return this.book.addresses;
  }

  async call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]> {
    const request = makeRequest(method, params, this.opts.stale === true);
    const plan = new CallPlan(Date.now() + FAILOVER_TIMEOUTS * this.timeoutMs);
    for (;;) {
      const host = this.target;
      try {
        const waitMs = Math.max(1, Math.min(this.timeoutMs, plan.remaining(Date.now())));
        const res = await send(await this.sessionFor(host, waitMs), request, waitMs);
        this.warnIfStale(res);
        // The manager answers with Results[method]: that is the contract in shared/api.ts.
        return res.result as Results[M];
      } catch (e) {
        if (this.opts.pinned) throw e;
        if (e instanceof ManagerError && e.leader) this.book.learn(e.leader, host);
        const next = plan.next(e, Date.now(), host, this.book.addresses);
        if (next.action === 'fail') throw next.error;
        if (next.action === 'redirect') this.target = this.book.resolve(next.host, next.id);
        else await sleep(next.ms);
        if (next.action === 'failover') this.target = next.host;
      }
    }
  }

  async openBlobs(): Promise<BlobSession> {
    const { openBlobSession } = await import('./blob-session.js');
    return openBlobSession(this.host, this.opts.identity, this.opts.insecure, this.timeoutMs);
  }

  async close(): Promise<void> {
    const all = [this.session, ...this.retired];
    this.retired.clear();
    await Promise.all(all.map((s) => closeSession(s, 'the connection was closed')));
  }

  /** The open session to `host`, connecting (once, however many calls wait) when needed. */
  private async sessionFor(host: string, waitMs: number): Promise<Session> {
    const current = this.session;
    if (current.host === host && current.mq.connected) return current;
    if (this.opening?.host !== host) {
      const session = openSession(host, this.opts, waitMs, this.book);
      this.opening = { host, session };
      void session.finally(() => {
        if (this.opening?.session === session) this.opening = null;
      });
    }
    const next = await this.opening.session;
    if (!next)
      throw new FleetError(
        'unavailable',
        `no manager answered at ${host} within ${seconds(waitMs)}`,
      );
    if (this.session !== next) this.retire(this.session, next);
    return next;
  }

  /** Swaps in `next`; the old session closes once the calls still waiting on it settled. */
  private retire(old: Session, next: Session): void {
    this.session = next;
    this.retired.add(old);
    old.onIdle = () => {
      old.onIdle = undefined;
      this.retired.delete(old);
      void closeSession(old, 'the connection was closed');
    };
    if (old.pending.size === 0 || !old.mq.connected) old.onIdle();
  }

  private warnIfStale(res: OkResponse): void {
    if (res.warning) this.opts.onWarning?.(res.warning);
    else if (res.stale)
      this.opts.onWarning?.(
        `answered from ${this.host}'s own copy, which may be behind the leader`,
      );
  }
}

function makeRequest<M extends Method>(method: M, params: Params<M>, stale: boolean): RpcRequest {
  // One key for every attempt at a write, so one applied by a manager that then died is not
  // applied again by the next: the managers keep each key's response.
  if (WRITE_METHODS.has(method))
    return { v: 1, id: randomId(), method, params, idempotencyKey: randomId() };
  return { v: 1, id: randomId(), method, params, ...(stale ? { stale: true } : {}) };
}
