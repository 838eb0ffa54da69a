// The name server of one network's bridge: UDP and TCP on the gateway address, answering that network's names and forwarding the rest.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import { RCODE, buildResponse, parseQuery, type DnsQuery } from './dns-codec.js';
import { decide } from './dns-policy.js';
import { forwardQuery } from './dns-upstream.js';

export interface DnsServerOptions {
  host: string;
  /** 53 in use; tests may pick another. */
  port: number;
  /** Clients outside the network's subnet are ignored: another network's tasks get no answer. */
  allowClient: (address: string) => boolean;
  /** The network's names (lower case) and their addresses, read at each query. */
  names: () => ReadonlyMap<string, string>;
  /** Names of the client's other networks, asked for a name the network does not have. */
  moreNames?: (client: string) => Promise<ReadonlyMap<string, string>>;
  /** The host's name servers and search domains, read at each query. */
  upstream: () => { nameservers: string[]; search: string[] };
  logger: Logger;
  clock: Clock;
}

/** A TCP client may keep its connection this long without a complete query. */
const TCP_IDLE_MS = 10_000;
/** Largest DNS message over TCP (the 2-byte length prefix allows no more). */
const MAX_TCP_MESSAGE = 65_535;

export class DnsServer {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly badLog: RateLimitedLog;

  constructor(private readonly opts: DnsServerOptions) {
    this.badLog = new RateLimitedLog(opts.logger, 10_000, opts.clock);
  }

  /** Listens on UDP and TCP; rejects when either cannot be opened (say, the port is taken). */
  async start(): Promise<void> {
    const { host, port } = this.opts;
    const udp = dgram.createSocket('udp4');
    this.udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address: host, port, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (err) => this.opts.logger.warn('dns socket error', { error: err.message }));
    udp.on('message', (msg, rinfo) => {
      if (!this.opts.allowClient(rinfo.address)) return this.refusedClient(rinfo.address);
      void this.handle(msg, rinfo.address).then((reply) => {
        if (reply && this.udp === udp) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    // Half-open: a client may send its query and its FIN at once and still wait for the answer.
    const tcp = net.createServer({ allowHalfOpen: true }, (s) => this.onTcp(s));
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host, port, exclusive: true }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    tcp.on('error', (err) => this.opts.logger.warn('dns listener error', { error: err.message }));
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    try {
      udp?.close();
    } catch {
      // never bound
    }
    if (tcp?.listening) await new Promise<void>((r) => tcp.close(() => r()));
  }

  /** The reply to one message, or null when it is dropped (malformed, or no upstream answered). */
  async handle(msg: Buffer, client: string): Promise<Buffer | null> {
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      this.badLog.warn(`bad:${parsed.reason}`, 'dropped a malformed DNS message', {
        reason: parsed.reason,
      });
      if (parsed.id === undefined) return null;
      const rcode =
        parsed.opcode !== undefined && parsed.opcode !== 0 ? RCODE.NOTIMP : RCODE.FORMERR;
      return buildResponse({ id: parsed.id, opcode: parsed.opcode ?? 0, rd: false }, rcode);
    }
    const { query } = parsed;
    const upstream = this.opts.upstream();
    let d = decide(query, this.opts.names(), upstream.search);
    if (d.kind === 'forward' && this.opts.moreNames) {
      const more = await this.opts.moreNames(client).catch(() => null);
      if (more && more.size > 0) d = decide(query, more, upstream.search);
    }
    if (d.kind === 'answer') return buildResponse(query, d.rcode, d.answers);
    return this.forward(msg, query, upstream.nameservers);
  }

  private async forward(msg: Buffer, query: DnsQuery, servers: string[]): Promise<Buffer> {
    const reply = await forwardQuery(msg, servers, this.opts.clock).catch(() => null);
    if (reply) return reply;
    this.badLog.warn('upstream', 'no upstream name server answered; SERVFAIL', {
      servers: servers.join(',') || '(none in /etc/resolv.conf)',
    });
    return buildResponse(query, RCODE.SERVFAIL);
  }

  private refusedClient(address: string): void {
    this.badLog.warn('client', 'ignored a DNS client outside the network', { client: address });
  }

  /** TCP (RFC 1035 4.2.2): each message behind a two-byte length; answered in order. */
  private onTcp(socket: net.Socket): void {
    if (!this.opts.allowClient(socket.remoteAddress ?? '')) {
      this.refusedClient(socket.remoteAddress ?? '');
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    const idle = (): void => void socket.destroy();
    let timer = this.opts.clock.setTimeout(idle, TCP_IDLE_MS);
    socket.on('error', () => socket.destroy());
    socket.on('end', () => void chain.then(() => socket.end()));
    socket.on('close', () => {
      this.opts.clock.clearTimeout(timer);
      this.sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len > MAX_TCP_MESSAGE || buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        this.opts.clock.clearTimeout(timer);
        timer = this.opts.clock.setTimeout(idle, TCP_IDLE_MS);
        chain = chain.then(async () => {
          const reply = await this.handle(Buffer.from(msg), socket.remoteAddress ?? '');
          if (!reply || socket.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([len, reply]));
        });
      }
    });
  }
}
