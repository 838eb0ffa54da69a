// TCP forwarding of one published port: each client connection is spliced to a backend connection, failing over on connect errors.
import net from 'node:net';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { BackendPool, BackendState, Closable } from './backends.js';
import { encodeV1, encodeV2 } from './proxy-protocol.js';

/** Size of a session's buffer for reads from its backend. */
const READ_BYTES = 16 * 1024;

/** A port's counters, shared by its TCP sessions or UDP flows. */
export interface TcpCounters {
  active: number;
  total: number;
  /** Forwardings that failed for the client. */
  errors: number;
  /** Backend connects that failed (refused, unreachable, timed out). */
  connectErrors: number;
  /** Bytes from clients to backends. */
  bytesIn: number;
  /** Bytes from backends to clients. */
  bytesOut: number;
}

export const newCounters = (): TcpCounters => ({
  active: 0,
  total: 0,
  errors: 0,
  connectErrors: 0,
  bytesIn: 0,
  bytesOut: 0,
});

export interface TcpContext {
  pool: BackendPool;
  counters: TcpCounters;
  proxy: 'v1' | 'v2' | undefined;
  logger: Logger;
  /** Client-visible failures, rate-limited: a port with no live backend can fail every connection. */
  errorLog: RateLimitedLog;
  /** Backend connects in progress, failed over when they take too long. */
  connects: ConnectDeadlines;
}

/**
 * Read buffers of ended sessions, for the next ones: a 16 KB allocation per connection is
 * memory outside the heap that the GC has to account for. Only buffers no pending write points
 * into come back here, and only a few (enough for a burst of short connections).
 */
const spareBuffers: Buffer[] = [];
const MAX_SPARE_BUFFERS = 8;

/** Options of a backend socket: net.Socket takes more than its type says (see connectNext). */
type UpstreamOptions = net.SocketConstructorOpts &
  Pick<net.TcpNetConnectOpts, 'onread'> & {
    emitClose: boolean;
    autoDestroy: boolean;
    decodeStrings: boolean;
  };

/** The session of a client or backend socket, so listeners can be shared functions. */
const kSession = Symbol('session');
type SessionSocket = net.Socket & { [kSession]: Session };

/**
 * One client connection. The client socket arrives paused (pauseOnConnect), so nothing is read
 * from it until a backend has accepted; a refused or timed-out connect is retried on the next
 * backend without the client seeing it. Once connected both directions flow (with backpressure,
 * and with allowHalfOpen a FIN on one side is passed on while the other direction keeps flowing).
 *
 * This is the hot path of the ingress: every listener is a shared function (finding the session
 * through the socket), so a connection allocates little beyond its two sockets.
 */
export class Session implements Closable {
  upstream: SessionSocket | undefined;
  /** When the connect in progress is given up (ms on the port's clock); 0 when none is. */
  deadline = 0;
  private backend: BackendState | undefined;
  private tried: BackendState[] | undefined;
  private closed = false;
  private connected = false;
  private readBuf: Buffer | undefined;
  /** The backend is paused until the client drains; the 'drain' listener is added on first use. */
  private drainHooked = false;
  private upDrainHooked = false;
  readonly client: SessionSocket;

  constructor(
    readonly ctx: TcpContext,
    client: net.Socket,
  ) {
    this.client = client as SessionSocket;
    this.client[kSession] = this;
    ctx.counters.active++;
    ctx.counters.total++;
    // A client reset is routine: pass it on to the backend; 'close' follows and cleans up.
    client.on('error', onClientError);
    client.on('close', onClientClose);
    this.connectNext();
  }

  /** Ends both sides at once (client gone, drain deadline, forwarder closing). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.counters.active--;
    if (this.deadline !== 0) this.ctx.connects.delete(this);
    const buf = this.readBuf;
    // No write still points into the buffer, and the backend (destroyed below) reads no more.
    const reusable = buf !== undefined && this.client.writableLength === 0;
    this.client.destroy();
    this.upstream?.destroy();
    if (reusable && spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(buf);
    this.readBuf = undefined;
    this.releaseBackend();
  }

  /** The connect in progress took too long: fail over as for a refused one. */
  connectTimedOut(): void {
    this.deadline = 0;
    this.upstream?.destroy(timeoutError());
  }

  /**
   * The buffer the next backend read goes into. A write the kernel did not take at once still
   * points into the current one, so then the next read gets a fresh buffer.
   */
  readBuffer(): Buffer {
    if (!this.readBuf || this.client.writableLength > 0)
      this.readBuf = spareBuffers.pop() ?? Buffer.allocUnsafe(READ_BYTES);
    return this.readBuf;
  }

  /** Resets the other side of a connection whose peer reset (only once both sides are up). */
  abort(socket: net.Socket | undefined): void {
    if (this.connected && socket && !socket.destroyed) socket.resetAndDestroy();
  }

  /** A write to the client did not complete: the backend read stopped until the client drains. */
  hookClientDrain(): void {
    if (this.drainHooked) return;
    this.drainHooked = true;
    this.client.on('drain', onClientDrain);
  }

  /** A write to the backend did not complete: the client read stopped until the backend drains. */
  hookUpstreamDrain(up: SessionSocket): void {
    if (this.upDrainHooked) return;
    this.upDrainHooked = true;
    up.on('drain', onUpstreamDrain);
  }

  private releaseBackend(): void {
    if (this.backend) this.ctx.pool.release(this.backend, this);
    this.backend = undefined;
  }

  private connectNext(): void {
    const b = this.ctx.pool.pick(this.tried);
    if (!b) {
      // No backend (left): refuse the client the closest way TCP allows, with a reset.
      this.ctx.counters.errors++;
      const msg = this.tried ? 'every backend failed; client reset' : 'no backend; client refused';
      this.ctx.errorLog.warn(msg, msg, { tried: this.tried?.length ?? 0 });
      this.client.resetAndDestroy();
      this.close();
      return;
    }
    this.backend = b;
    this.ctx.pool.acquire(b, this);
    // The socket is made before it connects (net.connect would do both) so that the session is
    // attached to it before its first read buffer is asked for.
    const opts: UpstreamOptions = {
      allowHalfOpen: true,
      // What net.Socket sets anyway, set here already: it copies the options and then sets
      // these on the copy, which V8 (11, Node 20) does slowly, building new hidden classes for
      // every socket: 8-10 us per socket, against well under 1 us with them already present.
      emitClose: false,
      autoDestroy: true,
      decodeStrings: false,
      // Responses are read into this session's own buffer and written straight on, skipping
      // the readable stream and an allocation per read (the larger half of the traffic).
      onread: { buffer: () => this.readBuffer(), callback: onUpstreamRead },
    };
    const up = new net.Socket(opts) as SessionSocket;
    up[kSession] = this;
    // Applied once connected (with no handle yet, it is only noted).
    up.setNoDelay(true);
    this.upstream = up;
    up.on('connect', onUpstreamConnect);
    up.on('error', onUpstreamError);
    up.on('close', onUpstreamClose);
    up.on('end', onUpstreamEnd);
    this.ctx.connects.add(this);
    up.connect(b.backend.port, b.backend.host);
  }

  onUpstreamError(up: SessionSocket, err: Error): void {
    const b = this.backend;
    if (this.closed || this.upstream !== up || !b) return;
    const fresh = this.ctx.pool.failed(b, !this.connected);
    const fields = {
      backend: b.backend.id,
      error: (err as NodeJS.ErrnoException).code ?? err.message,
    };
    if (this.connected) {
      // Mid-stream: reset the client too, so a truncated response cannot pass for a whole one.
      this.ctx.counters.errors++;
      const msg = 'backend failed mid-stream; client reset';
      this.ctx.errorLog.warn(msg, msg, fields);
      this.abort(this.client);
      return;
    }
    if (this.deadline !== 0) this.ctx.connects.delete(this);
    this.ctx.counters.connectErrors++;
    if (fresh) this.ctx.logger.warn('backend connect failed; trying the next one', fields);
    (this.tried ??= []).push(b);
    this.upstream = undefined;
    this.releaseBackend();
    this.connectNext();
  }

  onConnected(up: SessionSocket): void {
    if (this.closed || this.upstream !== up) return;
    this.connected = true;
    this.ctx.connects.delete(this);
    const { client, ctx } = this;
    if (ctx.proxy) up.write(proxyHeader(ctx.proxy, client));
    client.on('data', onClientData);
    client.on('end', onClientEnd);
    client.resume();
  }
}

// Listeners shared by every session; `this` is the socket that emitted.

function onClientError(this: SessionSocket): void {
  const s = this[kSession];
  s.abort(s.upstream);
}

function onClientClose(this: SessionSocket): void {
  this[kSession].close();
}

/** Client to backend (counted in bytesIn): what pipe() does, minus its bookkeeping per chunk. */
function onClientData(this: SessionSocket, chunk: Buffer): void {
  const s = this[kSession];
  const up = s.upstream;
  if (!up) return;
  s.ctx.counters.bytesIn += chunk.length;
  if (!up.write(chunk)) {
    this.pause();
    s.hookUpstreamDrain(up);
  }
}

function onClientEnd(this: SessionSocket): void {
  const up = this[kSession].upstream;
  if (up) passEnd(up);
}

function onClientDrain(this: SessionSocket): void {
  this[kSession].upstream?.resume();
}

/** Backend to client (counted in bytesOut); false stops reading from the backend. */
function onUpstreamRead(this: SessionSocket, n: number, buf: Buffer): boolean {
  const s = this[kSession];
  s.ctx.counters.bytesOut += n;
  if (s.client.write(buf.subarray(0, n))) return true;
  s.hookClientDrain();
  return false;
}

function onUpstreamDrain(this: SessionSocket): void {
  this[kSession].client.resume();
}

function onUpstreamConnect(this: SessionSocket): void {
  this[kSession].onConnected(this);
}

function onUpstreamError(this: SessionSocket, err: Error): void {
  this[kSession].onUpstreamError(this, err);
}

function onUpstreamClose(this: SessionSocket): void {
  const s = this[kSession];
  if (s.upstream === this) s.close();
}

/**
 * The backend's FIN goes on to the client once the events already at hand are handled: the
 * client has often closed by then too (it had its whole response), and then its socket is closed
 * at once rather than shut down first (see passEnd).
 */
function onUpstreamEnd(this: SessionSocket): void {
  setImmediate(passEnd, this[kSession].client);
}

/**
 * The connect timeouts of a port's sessions: one timer sweeping the connects in progress rather
 * than a timer per connection. A connect is given up between ms and ms + ms/4 after it started.
 */
export class ConnectDeadlines {
  private readonly pending = new Set<Session>();
  private timer: TimerHandle | undefined;

  constructor(
    private readonly ms: number,
    private readonly clock: Clock,
  ) {}

  add(s: Session): void {
    s.deadline = this.clock.now() + this.ms;
    this.pending.add(s);
    if (!this.timer) {
      this.timer = this.clock.setInterval(() => this.sweep(), Math.max(10, Math.ceil(this.ms / 4)));
    }
  }

  delete(s: Session): void {
    s.deadline = 0;
    this.pending.delete(s);
  }

  close(): void {
    if (this.timer) this.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const s of this.pending) {
      if (s.deadline > now) continue;
      this.pending.delete(s);
      s.connectTimedOut();
    }
    if (this.pending.size === 0) this.close();
  }
}

function proxyHeader(version: 'v1' | 'v2', client: net.Socket): Buffer {
  const a = {
    transport: 'tcp' as const,
    srcAddr: client.remoteAddress ?? '',
    srcPort: client.remotePort ?? 0,
    dstAddr: client.localAddress ?? '',
    dstPort: client.localPort ?? 0,
  };
  return version === 'v1' ? encodeV1(a) : encodeV2(a);
}

/**
 * Passes a FIN on to dst. When dst's peer has already sent its own FIN and nothing waits to be
 * written, a plain close sends the FIN and skips the separate shutdown (one syscall less per
 * connection: most connections end with both sides closing).
 */
function passEnd(dst: net.Socket): void {
  if (dst.destroyed) return;
  if (dst.readableEnded && dst.writableLength === 0) dst.destroy();
  else dst.end();
}

function timeoutError(): Error {
  return Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' });
}
