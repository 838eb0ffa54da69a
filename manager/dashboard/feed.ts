// The dashboard's live channel: Server-Sent Events with named topics, any number of browsers, slow ones dropped.
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../shared/clock.js';

/** A topic family made on demand, such as `logs/<service>`: started by its first subscriber. */
export type TopicStarter = (
  name: string,
  publish: (data: unknown) => void,
  fail: (message: string) => void,
) => () => void;

interface Client {
  res: ServerResponse;
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
      for (const c of [...this.clients]) if (!c.allowed()) c.res.end();
    }, AUDIT_MS);
  }

  /** Topics `prefix/<name>` are started by `start` for their first subscriber, stopped after the last. */
  family(prefix: string, start: TopicStarter): void {
    this.families.set(prefix, start);
  }

  /** Makes `res` an event stream of `topics`, opening with `first` (a snapshot, say). */
  attach(
    res: ServerResponse,
    topics: string[],
    first: { topic: string; data: unknown }[],
    allowed: () => boolean,
  ): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    for (const m of first) res.write(frame(m.topic, JSON.stringify(m.data)));
    const client: Client = { res, topics: new Set(topics), allowed };
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
    for (const c of [...this.clients]) c.res.end();
    for (const stop of this.running.values()) stop();
    this.running.clear();
  }

  private send(c: Client, text: string): void {
    if (c.res.writableLength > MAX_BACKLOG_BYTES) {
      c.res.destroy();
      return;
    }
    c.res.write(text);
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

function frame(topic: string, json: string): string {
  return `event: ${topic}\ndata: ${json}\n\n`;
}
