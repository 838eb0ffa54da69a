// The dashboard's live channel: Server-Sent Events with named topics, any number of browsers, slow ones dropped.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, createGzip, type Gzip } from 'node:zlib';
import type { Clock, TimerHandle } from '../../shared/clock.js';

/** A topic family made on demand, such as `logs/<service>`: started by its first subscriber. */
export type TopicStarter = (
  name: string,
  publish: (data: unknown) => void,
  fail: (message: string) => void,
) => () => void;

interface Client {
  res: ServerResponse;
  /** Present when the browser takes gzip: a 1,000-node snapshot shrinks about tenfold. */
  gzip: Gzip | undefined;
  topics: ReadonlySet<string>;
  /** False once the session behind the stream ended (token revoked or expired). */
  allowed: () => boolean;
}

/** Buffered bytes a browser may fall behind by before it is cut off (it reconnects and resyncs). */
const MAX_BACKLOG_BYTES = 4 << 20;
/** A comment line now and then keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** How often open streams are checked against their sessions. */
const AUDIT_MS = 2_000;

export class Feed {
  private readonly clients = new Set<Client>();
  private readonly families = new Map<string, TopicStarter>();
  private readonly running = new Map<string, () => void>();
  private readonly keepalive: TimerHandle;
  private readonly audit: TimerHandle;

  constructor(private readonly clock: Clock) {
    this.keepalive = clock.setInterval(() => this.writeAll(': keepalive\n\n'), KEEPALIVE_MS);
    this.audit = clock.setInterval(() => {
      for (const c of [...this.clients]) if (!c.allowed()) end(c);
    }, AUDIT_MS);
  }

  /** Topics `prefix/<name>` are started by `start` for their first subscriber, stopped after the last. */
  family(prefix: string, start: TopicStarter): void {
    this.families.set(prefix, start);
  }

  /** Makes `res` an event stream of `topics`, opening with `first` (a snapshot, say). */
  attach(
    req: IncomingMessage,
    res: ServerResponse,
    topics: string[],
    first: { topic: string; data: unknown }[],
    allowed: () => boolean,
  ): void {
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
      ? createGzip({ level: 6 })
      : undefined;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
    });
    gzip?.pipe(res);
    gzip?.on('error', () => res.destroy());
    const client: Client = { res, gzip, topics: new Set(topics), allowed };
    write(client, 'retry: 2000\n\n');
    for (const m of first) write(client, frame(m.topic, JSON.stringify(m.data)));
    this.clients.add(client);
    for (const t of topics) this.startIfNeeded(t);
    res.on('close', () => this.drop(client));
  }

  publish(topic: string, data: unknown): void {
    let text: string | undefined;
    for (const c of this.clients) {
      if (!c.topics.has(topic)) continue;
      text ??= frame(topic, JSON.stringify(data));
      this.send(c, text);
    }
  }

  /** Browsers connected now. */
  get size(): number {
    return this.clients.size;
  }

  close(): void {
    this.clock.clearInterval(this.keepalive);
    this.clock.clearInterval(this.audit);
    for (const c of [...this.clients]) end(c);
    for (const stop of this.running.values()) stop();
    this.running.clear();
  }

  private send(c: Client, text: string): void {
    if (c.res.writableLength + (c.gzip?.writableLength ?? 0) > MAX_BACKLOG_BYTES) {
      c.res.destroy();
      return;
    }
    write(c, text);
  }

  private writeAll(text: string): void {
    for (const c of this.clients) this.send(c, text);
  }

  private startIfNeeded(topic: string): void {
    if (this.running.has(topic)) return;
    const slash = topic.indexOf('/');
    const start = slash > 0 ? this.families.get(topic.slice(0, slash)) : undefined;
    if (!start) return;
    const stop = start(
      topic.slice(slash + 1),
      (data) => this.publish(topic, data),
      (message) => this.publish(topic, { error: message }),
    );
    this.running.set(topic, stop);
  }

  private drop(c: Client): void {
    this.clients.delete(c);
    for (const t of c.topics) {
      const stop = this.running.get(t);
      if (!stop || [...this.clients].some((o) => o.topics.has(t))) continue;
      this.running.delete(t);
      stop();
    }
  }
}

/** Writes a frame and, through gzip, flushes it: each event must reach the browser now. */
function write(c: Client, text: string): void {
  if (!c.gzip) {
    c.res.write(text);
    return;
  }
  c.gzip.write(text);
  c.gzip.flush(constants.Z_SYNC_FLUSH);
}

function end(c: Client): void {
  if (c.gzip) c.gzip.end();
  else c.res.end();
}

function frame(topic: string, json: string): string {
  return `event: ${topic}\ndata: ${json}\n\n`;
}
