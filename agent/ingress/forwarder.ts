// The ingress forwarder of one published port on one address: listens (TCP or UDP) and forwards to the port's backends.
import net from 'node:net';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import { BackendPool, type Backend } from './backends.js';
import { ConnectDeadlines, Session, newCounters, type TcpContext } from './tcp.js';
import { UdpForwarder } from './udp.js';

export type { Backend } from './backends.js';

export interface ForwarderOptions {
  bindHost: string;
  port: number;
  protocol: 'tcp' | 'udp';
  /** PROXY protocol header sent to the backend first (UDP: v2 only, prepended to each datagram). */
  proxy?: 'v1' | 'v2';
  /**
   * Default least-conn: ingress connections vary widely in lifetime (a long download next to
   * short requests), and least-conn keeps a task holding slow connections from also getting an
   * equal share of new ones. Ties go round robin, so equal loads still spread evenly.
   */
  balance?: 'round-robin' | 'least-conn';
  /** How long connections to a removed backend may live (default 30 s). */
  drainMs?: number;
  /** A connect that takes longer fails over to the next backend (default 3 s). */
  connectTimeoutMs?: number;
  /** A UDP flow keeps its backend socket this long after its last datagram (default 30 s). */
  udpIdleMs?: number;
  /** Clients it is false for are refused (TCP reset, UDP dropped): a network's name forwarders. */
  allowClient?: (address: string) => boolean;
  logger: Logger;
  /** Time for connect deadlines, drains, cooldowns, UDP idling and log rate limits. */
  clock?: Clock;
}

/** One line per reason this often at most; the lines in between are counted, not printed. */
const ERROR_LOG_INTERVAL_MS = 10_000;

export interface BackendStats {
  active: number;
  total: number;
  errors: number;
  draining: boolean;
}

export interface ForwarderStats {
  port: number;
  protocol: 'tcp' | 'udp';
  /** Open connections (TCP) or flows (UDP). */
  active: number;
  total: number;
  /** Forwarding failures: no backend, every backend failed, or a backend error mid-stream. */
  errors: number;
  /** Backend connects that failed (refused, unreachable, timed out), whether failed over or not. */
  connectErrors: number;
  /** Bytes from clients to backends, and back. */
  bytesIn: number;
  bytesOut: number;
  backends: Record<string, BackendStats>;
}

export class PortForwarder {
  private readonly pool: BackendPool;
  private readonly counters = newCounters();
  private readonly logger: Logger;
  private readonly errorLog: RateLimitedLog;
  private readonly clock: Clock;
  private server: net.Server | undefined;
  private connects: ConnectDeadlines | undefined;
  private udp: UdpForwarder | undefined;
  private drainMs: number;
  private markClosed: () => void = () => undefined;
  /** Resolves once close() has run (after a retire, when the last connection ended). */
  readonly closed = new Promise<void>((r) => (this.markClosed = r));

  constructor(private readonly opts: ForwarderOptions) {
    this.logger = opts.logger.child(`ingress:${opts.protocol}/${opts.port}`);
    this.clock = opts.clock ?? systemClock;
    this.errorLog = new RateLimitedLog(this.logger, ERROR_LOG_INTERVAL_MS, this.clock);
    if (opts.protocol === 'udp' && opts.proxy === 'v1')
      throw new Error('PROXY protocol v1 cannot describe UDP; use proxy=v2');
    this.drainMs = opts.drainMs ?? 30_000;
    this.pool = new BackendPool({
      balance: opts.balance ?? 'least-conn',
      drainMs: this.drainMs,
      clock: this.clock,
    });
  }

  /** Starts listening; a port already in use rejects with an error naming EADDRINUSE. */
  async start(): Promise<void> {
    const { bindHost, port, protocol } = this.opts;
    try {
      if (protocol === 'udp') await this.startUdp();
      else await this.startTcp();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EADDRINUSE' ? 'is already in use (EADDRINUSE)' : err.message;
      throw Object.assign(
        new Error(`ingress: cannot listen on ${protocol} ${bindHost}:${port}: ${why}`),
        {
          code: err.code,
        },
      );
    }
    this.logger.info('listening', { host: bindHost });
  }

  /** Replaces the backends; local ones are preferred when any is present, removed ones drain. */
  setBackends(backends: Backend[]): void {
    this.pool.set(backends);
  }

  stats(): ForwarderStats {
    const backends: Record<string, BackendStats> = {};
    for (const s of this.pool.states()) {
      const prev = backends[s.backend.id];
      // An id seen twice (its address changed): the old entry drains; report the sum.
      backends[s.backend.id] = {
        active: s.active + (prev?.active ?? 0),
        total: s.total + (prev?.total ?? 0),
        errors: s.errors + (prev?.errors ?? 0),
        draining: s.draining && (prev?.draining ?? true),
      };
    }
    return { port: this.opts.port, protocol: this.opts.protocol, ...this.counters, backends };
  }

  /** How long connections to a backend that left stay open (a drain in progress keeps its own). */
  setDrainMs(ms: number): void {
    this.drainMs = ms;
    this.pool.setDrainMs(ms);
  }

  /**
   * The port left the table: no new connections (the listener closes before this resolves),
   * while open ones finish within the drain time. Then everything closes. UDP closes at once:
   * its one socket carries both the listening and the flows.
   */
  async retire(): Promise<void> {
    const server = this.server;
    if (this.opts.protocol === 'udp' || !server) return this.close();
    this.server = undefined;
    this.pool.set([]);
    const done = (): void => void this.close();
    const check = this.clock.setInterval(() => {
      if (this.pool.empty) {
        this.clock.clearInterval(check);
        this.clock.clearTimeout(limit);
        done();
      }
    }, 250);
    // The pool cuts what is left at its drain deadline; this only frees the forwarder after it.
    const limit = this.clock.setTimeout(() => {
      this.clock.clearInterval(check);
      done();
    }, this.drainMs + 1_000);
    // close() stops accepting at once; its callback would wait for every connection to end.
    server.close();
    await new Promise<void>((r) => setImmediate(r));
  }

  /** Stops listening and ends every open connection or flow. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // Every open connection belongs to a backend of the pool, draining ones included.
    this.pool.clear();
    this.connects?.close();
    this.udp?.close();
    this.udp = undefined;
    if (server?.listening) await new Promise<void>((r) => server.close(() => r()));
    this.markClosed();
  }

  private startTcp(): Promise<void> {
    this.connects = new ConnectDeadlines(this.opts.connectTimeoutMs ?? 3_000, this.clock);
    const ctx: TcpContext = {
      pool: this.pool,
      counters: this.counters,
      proxy: this.opts.proxy,
      logger: this.logger,
      errorLog: this.errorLog,
      connects: this.connects,
    };
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    const allow = this.opts.allowClient;
    server.on('connection', (client) => {
      if (!allow || allow(client.remoteAddress ?? '')) new Session(ctx, client);
      else client.resetAndDestroy();
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.bindHost, port: this.opts.port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.warn('listener error', { err }));
        resolve();
      });
    });
  }

  private async startUdp(): Promise<void> {
    const udp = new UdpForwarder(
      {
        pool: this.pool,
        counters: this.counters,
        proxy: this.opts.proxy === 'v2',
        idleMs: this.opts.udpIdleMs ?? 30_000,
        logger: this.logger,
        errorLog: this.errorLog,
        clock: this.clock,
        ...(this.opts.allowClient ? { allowClient: this.opts.allowClient } : {}),
      },
      this.opts.bindHost,
    );
    this.udp = udp;
    await udp.bind(this.opts.bindHost, this.opts.port);
  }
}
