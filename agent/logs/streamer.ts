// Sends the logs the manager asks for, while someone renews the stream: within the node's byte budget, never otherwise.
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { Bandwidth } from '../../shared/images/bandwidth.js';
import type { Logger } from '../../shared/log.js';
import {
  DEFAULT_LOG_BUDGET,
  LEASE_MS,
  LOG_PAYLOAD_MAX_BYTES,
  lineCost,
  logControlSchema,
  logTopics,
  type LogControl,
  type LogData,
  type LogLine,
} from '../../shared/log-stream.js';
import { decode, encode } from '../../shared/protocol.js';
import type { LogReading, OutputLine } from '../runtime/log-types.js';
import type { Runtime } from '../runtime/types.js';
import type { OwnLog } from './own-log.js';

export interface LogStreamerDeps {
  nodeId: string;
  runtime: Runtime;
  clock: Clock;
  logger: Logger;
  /** Hands a message to the connection (QoS 1); false when not connected. */
  publish(topic: string, payload: Buffer): boolean;
  /** The agent's own recent log lines, for `fleet node logs`. */
  ownLog?: OwnLog;
  /** Log bytes per second this node sends, all streams together (default 256 KiB). */
  budget?: number;
}

/** Lines wait at most this long to travel together; one alone after a quiet spell goes at once. */
const FLUSH_MS = 100;
/** A batch this large goes without waiting. */
const FLUSH_BYTES = 32 * 1024;
const LEASE_CHECK_MS = 500;

interface Stream {
  id: string;
  leaseUntil: number;
  readings: Map<number, LogReading>;
  pending: LogLine[];
  pendingBytes: number;
  ended: number[];
  started: boolean;
  lastSent: number;
  timer: TimerHandle | null;
  closed: boolean;
}

export class LogStreamer {
  private readonly streams = new Map<string, Stream>();
  private readonly budget: Bandwidth;
  private leaseTimer: TimerHandle | null = null;

  constructor(private readonly deps: LogStreamerDeps) {
    const rate = deps.budget ?? DEFAULT_LOG_BUDGET;
    this.budget = new Bandwidth(deps.clock, rate, Math.max(rate, 64 * 1024));
  }

  /** Log bytes let through the budget since start. */
  get sent(): number {
    return this.budget.total;
  }

  onControl(payload: Buffer): void {
    const d = decode(logControlSchema, payload);
    if (!d.ok) return this.deps.logger.debug('dropped log control', { reason: d.reason });
    const msg = d.value;
    if (msg.op === 'start') void this.start(msg);
    else if (msg.op === 'stop') this.end(msg.id);
    else {
      const until = this.deps.clock.now() + LEASE_MS;
      for (const id of msg.ids) {
        const s = this.streams.get(id);
        if (s) s.leaseUntil = until;
        // Lost with a dropped connection: the manager must not wait for it.
        else this.deps.publish(logTopics.data(this.deps.nodeId), encode({ v: 1, id, gone: true }));
      }
    }
  }

  /** Ends every stream: the connection is gone, and the manager forgets them too. */
  stopAll(): void {
    for (const id of [...this.streams.keys()]) this.end(id);
  }

  private async start(msg: Extract<LogControl, { op: 'start' }>): Promise<void> {
    if (this.streams.has(msg.id)) return;
    const s: Stream = {
      id: msg.id,
      leaseUntil: this.deps.clock.now() + LEASE_MS,
      readings: new Map(),
      pending: [],
      pendingBytes: 0,
      ended: [],
      started: false,
      lastSent: 0,
      timer: null,
      closed: false,
    };
    this.streams.set(msg.id, s);
    this.leaseTimer ??= this.deps.clock.setInterval(() => this.checkLeases(), LEASE_CHECK_MS);
    this.flush(s); // says it started, before any reading
    const workloads = await this.deps.runtime.list(this.deps.nodeId).catch((e: unknown) => {
      this.deps.logger.warn('cannot list workloads for logs', { error: errorMessage(e) });
      return [];
    });
    for (const src of msg.sources) {
      if (s.closed) return;
      const sink = (lines: OutputLine[]): Promise<void> => this.accept(s, src.key, lines);
      let reading: LogReading | null = null;
      if (src.taskId === undefined) reading = this.deps.ownLog?.read(msg.read, sink) ?? null;
      else {
        const w = workloads.find((x) => x.taskId === src.taskId);
        if (w && this.deps.runtime.readLogs)
          reading = this.deps.runtime.readLogs(w.runtimeId, msg.read, sink);
      }
      if (!reading) {
        const why =
          src.taskId === undefined
            ? 'this agent keeps no log'
            : 'the task is no longer on this node';
        void this.accept(s, src.key, [
          { t: this.deps.clock.now(), m: true, x: `-- ${why} --` },
        ]).then(() => this.ended(s, src.key));
        continue;
      }
      s.readings.set(src.key, reading);
      reading.done.then(
        () => this.ended(s, src.key),
        (e: unknown) => {
          this.deps.logger.warn('log reading failed', {
            taskId: src.taskId,
            error: errorMessage(e),
          });
          this.ended(s, src.key);
        },
      );
    }
  }

  /** Takes lines once the budget allows: the reader waits meanwhile (back-pressure, no drops). */
  private async accept(s: Stream, key: number, lines: OutputLine[]): Promise<void> {
    if (s.closed || lines.length === 0) return;
    const cost = lines.reduce((n, l) => n + lineCost(l.x), 0);
    await this.budget.take(cost);
    if (s.closed) return;
    for (const l of lines) s.pending.push({ k: key, ...l });
    s.pendingBytes += cost;
    this.schedule(s);
  }

  private ended(s: Stream, key: number): void {
    if (s.closed) return;
    s.readings.delete(key);
    s.ended.push(key);
    this.schedule(s);
  }

  private schedule(s: Stream): void {
    if (s.timer || s.closed) return;
    const now = this.deps.clock.now();
    const wait = s.pendingBytes >= FLUSH_BYTES ? 0 : Math.max(0, s.lastSent + FLUSH_MS - now);
    if (wait === 0) return this.flush(s);
    s.timer = this.deps.clock.setTimeout(() => {
      s.timer = null;
      this.flush(s);
    }, wait);
  }

  private flush(s: Stream): void {
    if (s.closed) return;
    s.lastSent = this.deps.clock.now();
    do {
      const lines = takeBatch(s);
      const msg: LogData = {
        v: 1,
        id: s.id,
        lines,
        ended: s.pending.length === 0 ? s.ended.splice(0) : [],
      };
      if (!s.started) msg.started = s.started = true;
      this.deps.publish(logTopics.data(this.deps.nodeId), encode(msg));
    } while (s.pending.length > 0);
    s.pendingBytes = 0;
  }

  private checkLeases(): void {
    const now = this.deps.clock.now();
    for (const s of [...this.streams.values()]) if (now > s.leaseUntil) this.end(s.id);
  }

  private end(id: string): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.closed = true;
    if (s.timer) this.deps.clock.clearTimeout(s.timer);
    for (const r of s.readings.values()) r.close();
    this.streams.delete(id);
    if (this.streams.size === 0 && this.leaseTimer) {
      this.deps.clock.clearInterval(this.leaseTimer);
      this.leaseTimer = null;
    }
  }
}

/** Pending lines up to one payload's worth. */
function takeBatch(s: Stream): LogLine[] {
  let bytes = 0;
  let n = 0;
  const limit = LOG_PAYLOAD_MAX_BYTES - 2048;
  for (const l of s.pending) {
    const cost = JSON.stringify(l.x).length + 40;
    if (n > 0 && bytes + cost > limit) break;
    bytes += cost;
    n++;
  }
  return s.pending.splice(0, n);
}

/** The agent's streamer, from its options: the runtime, its own log and its budget. */
export function agentLogStreamer(
  opts: {
    identity: { id: string };
    runtime: Runtime;
    logger: Logger;
    ownLog?: OwnLog;
    logBudget?: number;
  },
  clock: Clock,
  publish: (topic: string, payload: Buffer) => boolean,
): LogStreamer {
  return new LogStreamer({
    nodeId: opts.identity.id,
    runtime: opts.runtime,
    clock,
    logger: opts.logger.child('logs'),
    publish,
    ...(opts.ownLog ? { ownLog: opts.ownLog } : {}),
    ...(opts.logBudget !== undefined ? { budget: opts.logBudget } : {}),
  });
}
