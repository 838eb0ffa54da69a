// UDP forwarding of one published port: each client address:port is a flow with its own connected socket to a backend.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { BackendPool, BackendState, Closable } from './backends.js';
import { encodeV2 } from './proxy-protocol.js';
import type { TcpCounters } from './tcp.js';

/** Datagrams held for a flow while its backend socket connects; beyond it they are dropped, as UDP may. */
const MAX_QUEUED = 64;

export interface UdpContext {
  pool: BackendPool;
  counters: TcpCounters;
  proxy: boolean;
  idleMs: number;
  logger: Logger;
  errorLog: RateLimitedLog;
  /** Time for the flows' idle timeout. */
  clock: Clock;
  /** Datagrams from clients it is false for are dropped. */
  allowClient?: (address: string) => boolean;
}

/** One client's flow. The backend socket is connected so an ICMP refusal surfaces as an error. */
class Flow implements Closable {
  lastSeen: number;
  private queue: Buffer[] | undefined = [];
  private closed = false;
  private readonly header: Buffer | undefined;
  private readonly up: dgram.Socket;

  constructor(
    private readonly fw: UdpForwarder,
    readonly key: string,
    private readonly backend: BackendState,
    private readonly client: dgram.RemoteInfo,
  ) {
    this.lastSeen = fw.ctx.clock.now();
    const b = backend.backend;
    if (fw.ctx.proxy) {
      const local = fw.socket.address();
      this.header = encodeV2({
        transport: 'udp',
        srcAddr: client.address,
        srcPort: client.port,
        dstAddr: local.address,
        dstPort: local.port,
      });
    }
    this.up = dgram.createSocket(isIPv6(b.host) ? 'udp6' : 'udp4');
    this.up.on('message', (msg) => {
      fw.ctx.counters.bytesOut += msg.length;
      fw.socket.send(msg, client.port, client.address);
    });
    this.up.on('error', (err) => this.onError(err));
    this.up.connect(b.port, b.host, () => this.flush());
  }

  send(msg: Buffer): void {
    if (this.queue) {
      if (this.queue.length < MAX_QUEUED) this.queue.push(msg);
      return;
    }
    if (this.header) this.up.send([this.header, msg]);
    else this.up.send(msg);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fw.forget(this, this.backend);
    this.up.close();
  }

  private flush(): void {
    if (this.closed) return;
    const q = this.queue ?? [];
    this.queue = undefined;
    for (const m of q) this.send(m);
  }

  private onError(err: Error): void {
    // The next datagram from this client opens a new flow, to another backend if this one failed.
    const fresh = this.fw.ctx.pool.failed(this.backend, true);
    this.fw.ctx.counters.errors++;
    this.fw.ctx.counters.connectErrors++;
    if (fresh)
      this.fw.ctx.logger.warn('udp backend error', {
        backend: this.backend.backend.id,
        client: `${this.client.address}:${this.client.port}`,
        error: (err as NodeJS.ErrnoException).code ?? err.message,
      });
    this.close();
  }
}

export class UdpForwarder {
  readonly socket: dgram.Socket;
  private readonly flows = new Map<string, Flow>();
  private sweeper: TimerHandle | undefined;

  constructor(
    readonly ctx: UdpContext,
    bindHost: string,
  ) {
    this.socket = dgram.createSocket(isIPv6(bindHost) ? 'udp6' : 'udp4');
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
  }

  /** Binds; rejects with the socket error (e.g. EADDRINUSE). */
  bind(host: string, port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind({ address: host, port, exclusive: true }, () => {
        this.socket.off('error', reject);
        this.socket.on('error', (err) => this.ctx.logger.warn('udp socket error', { err }));
        resolve();
      });
    }).then(() => this.startSweeper());
  }

  forget(flow: Flow, b: BackendState): void {
    if (this.flows.get(flow.key) === flow) this.flows.delete(flow.key);
    this.ctx.counters.active--;
    this.ctx.pool.release(b, flow);
  }

  close(): void {
    if (this.sweeper) this.ctx.clock.clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const f of [...this.flows.values()]) f.close();
    try {
      this.socket.close();
    } catch {
      // Never bound, or already closed.
    }
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.ctx.allowClient && !this.ctx.allowClient(rinfo.address)) return;
      const b = this.ctx.pool.pick();
      this.ctx.counters.total++;
      if (!b) {
        this.ctx.counters.errors++;
        const msg = 'no backend; datagram dropped';
        this.ctx.errorLog.warn(msg, msg, { client: `${rinfo.address}:${rinfo.port}` });
        return;
      }
      flow = new Flow(this, key, b, rinfo);
      this.flows.set(key, flow);
      this.ctx.counters.active++;
      this.ctx.pool.acquire(b, flow);
    }
    flow.lastSeen = this.ctx.clock.now();
    this.ctx.counters.bytesIn += msg.length;
    flow.send(msg);
  }

  /** One timer for all flows rather than one reset per datagram: idle flows end within 1.5x idleMs. */
  private startSweeper(): void {
    const every = Math.max(50, Math.floor(this.ctx.idleMs / 2));
    this.sweeper = this.ctx.clock.setInterval(() => {
      const cutoff = this.ctx.clock.now() - this.ctx.idleMs;
      for (const f of [...this.flows.values()]) if (f.lastSeen < cutoff) f.close();
    }, every);
  }
}
