// TCP forwarding of one published port: each client connection is spliced to a backend connection, failing over on connect errors.
import net from 'node:net';
import type { Logger } from '../../shared/log.js';
import type { BackendPool, BackendState, Closable } from './backends.js';
import type { ForwardErrorLog } from './error-log.js';
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
  connectTimeoutMs: number;
  logger: Logger;
  /** Client-visible failures, rate-limited: a port with no live backend can fail every connection. */
  errorLog: ForwardErrorLog;
  sessions: Set<Session>;
}

/**
 * One client connection. The client socket arrives paused (pauseOnConnect), so nothing is read
 * from it until a backend has accepted; a refused or timed-out connect is retried on the next
 * backend without the client seeing it. Once connected both sides are piped (backpressure, and
 * with allowHalfOpen a FIN on one side is passed on while the other direction keeps flowing).
 */
export class Session implements Closable {
  private upstream: net.Socket | undefined;
  private backend: BackendState | undefined;
  private tried: BackendState[] | undefined;
  private closed = false;
  private connected = false;
  private readBuf: Buffer | undefined;

  constructor(
    private readonly ctx: TcpContext,
    private readonly client: net.Socket,
  ) {
    ctx.counters.active++;
    ctx.counters.total++;
    ctx.sessions.add(this);
    // A client reset is routine: pass it on to the backend; 'close' follows and cleans up.
    client.on('error', () => this.abort(this.upstream));
    client.once('close', () => this.close());
    this.connectNext();
  }

  /** Ends both sides at once (client gone, drain deadline, forwarder closing). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.counters.active--;
    this.ctx.sessions.delete(this);
    this.client.destroy();
    this.upstream?.destroy();
    this.releaseBackend();
  }

  /**
   * The buffer the next backend read goes into. A write the kernel did not take at once still
   * points into the current one, so then the next read gets a fresh buffer.
   */
  private readBuffer(): Buffer {
    if (!this.readBuf || this.client.writableLength > 0)
      this.readBuf = Buffer.allocUnsafe(READ_BYTES);
    return this.readBuf;
  }

  /** Resets the other side of a connection whose peer reset (only once both sides are up). */
  private abort(socket: net.Socket | undefined): void {
    if (this.connected && socket && !socket.destroyed) socket.resetAndDestroy();
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
      this.ctx.errorLog.warn(
        this.tried ? 'every backend failed; client reset' : 'no backend; client refused',
        { tried: this.tried?.length ?? 0 },
      );
      this.client.resetAndDestroy();
      this.close();
      return;
    }
    this.backend = b;
    this.ctx.pool.acquire(b, this);
    const up = net.connect({
      host: b.backend.host,
      port: b.backend.port,
      allowHalfOpen: true,
      noDelay: true,
      // Responses are read into this session's own buffer and written straight on, skipping
      // the readable stream and an allocation per read (the larger half of the traffic).
      onread: {
        buffer: () => this.readBuffer(),
        callback: (n: number, buf: Buffer) => {
          this.ctx.counters.bytesOut += n;
          return this.client.write(buf.subarray(0, n));
        },
      },
    });
    this.upstream = up;
    up.setTimeout(this.ctx.connectTimeoutMs, () => up.destroy(timeoutError()));
    up.once('connect', () => this.onConnected(up));
    up.on('error', (err) => this.onUpstreamError(up, b, err));
    up.once('close', () => {
      if (this.upstream === up) this.close();
    });
  }

  private onUpstreamError(up: net.Socket, b: BackendState, err: Error): void {
    if (this.closed || this.upstream !== up) return;
    const fresh = this.ctx.pool.failed(b, !this.connected);
    const fields = {
      backend: b.backend.id,
      error: (err as NodeJS.ErrnoException).code ?? err.message,
    };
    if (this.connected) {
      // Mid-stream: reset the client too, so a truncated response cannot pass for a whole one.
      this.ctx.counters.errors++;
      this.ctx.errorLog.warn('backend failed mid-stream; client reset', fields);
      this.abort(this.client);
      return;
    }
    this.ctx.counters.connectErrors++;
    if (fresh) this.ctx.logger.warn('backend connect failed; trying the next one', fields);
    (this.tried ??= []).push(b);
    this.upstream = undefined;
    this.releaseBackend();
    this.connectNext();
  }

  private onConnected(up: net.Socket): void {
    if (this.closed) return;
    this.connected = true;
    up.setTimeout(0);
    const { client, ctx } = this;
    if (ctx.proxy) up.write(proxyHeader(ctx.proxy, client));
    splice(client, up, ctx.counters);
    // A false return from the write above stopped reading; drained, it resumes.
    client.on('drain', () => up.resume());
    up.on('end', () => passEnd(client));
    client.resume();
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
 * Copies src to dst (client to backend, counted in bytesIn): what pipe() does, minus its
 * bookkeeping per chunk (this is the hot path).
 * A full dst pauses src until it drains; src's end becomes dst's FIN, the other way keeps flowing.
 */
function splice(src: net.Socket, dst: net.Socket, counters: TcpCounters): void {
  src.on('data', (chunk: Buffer) => {
    counters.bytesIn += chunk.length;
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
  src.on('end', () => passEnd(dst));
}

/**
 * Passes a FIN on to dst. When dst's peer has already sent its own FIN and nothing waits to be
 * written, a plain close sends the FIN and skips the separate shutdown (one syscall less per
 * connection: most connections end with both sides closing).
 */
function passEnd(dst: net.Socket): void {
  if (dst.readableEnded && dst.writableLength === 0) dst.destroy();
  else dst.end();
}

function timeoutError(): Error {
  return Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' });
}
