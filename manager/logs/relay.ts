// Relays followed logs: a CLI asks, the agents holding the parts send lines, the manager merges them back to the CLI.
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { errorMessage, isFleetError } from '../../shared/errors.js';
import {
  LEASE_MS,
  LOG_PAYLOAD_MAX_BYTES,
  RENEW_MS,
  logDataNode,
  logDataSchema,
  logRequestSchema,
  logTopicClient,
  logTopics,
  type LogControl,
  type LogRequest,
  type LogResponse,
  type ReadOptions,
} from '../../shared/log-stream.js';
import type { Logger } from '../../shared/log.js';
import { PREFIX, decode, encode } from '../../shared/protocol.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { Principal } from '../broker/acl.js';
import type { Broker } from '../broker/broker.js';
import type { StoreView } from '../store/store.js';
import { batches } from './merge.js';
import { RelayedStream } from './stream.js';
import { resolveParts } from './targets.js';

export interface LogRelayDeps {
  broker: Broker;
  store: StoreView;
  clock: Clock;
  logger: Logger;
  /** Agents talk to the leader: only its broker reaches them. */
  isLeader(): boolean;
  /** Where the leader is, for the error a follower answers with. */
  leaderAddress(): string | null;
}

/** The relay of a manager, serving while `gate` says it leads. */
export function startLogRelay(
  deps: Pick<LogRelayDeps, 'broker' | 'store' | 'clock' | 'logger'>,
  gate: { isLeader(): boolean; leaderInfo(): { leader?: { address: string } | null } },
): LogRelay {
  const relay = new LogRelay({
    ...deps,
    logger: deps.logger.child('logs'),
    isLeader: () => gate.isLeader(),
    leaderAddress: () => gate.leaderInfo().leader?.address ?? null,
  });
  relay.start();
  return relay;
}

/** How often streams are flushed and checked (leases, answers, nodes down) while any is open. */
const TICK_MS = 50;
/** A node whose agent has not taken the stream on by then is reported silent. */
const ANSWER_MS = 5_000;

export class LogRelay {
  private readonly streams = new Map<string, RelayedStream>();
  private readonly byWire = new Map<string, RelayedStream>();
  private readonly complaints: RateLimitedLog;
  private readonly stops: (() => void)[] = [];
  private timer: TimerHandle | null = null;
  /** Followers inside this process (the dashboard), by the client id their streams carry. */
  private readonly local = new Map<string, { sink: (r: LogResponse) => void; renewedAt: number }>();
  private localSeq = 0;
  /** Log payload bytes agents sent this manager: 0 while nobody follows. */
  bytesIn = 0;

  constructor(private readonly deps: LogRelayDeps) {
    this.complaints = new RateLimitedLog(deps.logger, 5_000, deps.clock);
  }

  start(): void {
    const { broker } = this.deps;
    this.stops.push(
      broker.onMessage(`${PREFIX}/logs/`, (topic, payload, p, cid) =>
        this.onRequest(topic, payload, p, cid),
      ),
      broker.onMessage(`${PREFIX}/nodes/`, (topic, payload, p) => this.onData(topic, payload, p)),
    );
  }

  /**
   * Follows logs for a reader in this process (the dashboard's log tail): the same stream a CLI
   * opens, answered to `sink` instead of over MQTT, renewed while it is not stopped.
   */
  followLocal(
    target: Extract<LogRequest, { op: 'open' }>['target'],
    read: ReadOptions,
    sink: (r: LogResponse) => void,
  ): () => void {
    const clientId = `local-${++this.localSeq}`;
    this.local.set(clientId, { sink, renewedAt: this.deps.clock.now() });
    this.open(clientId, { v: 1, op: 'open', id: 'local', target, read });
    return () => {
      const s = this.streams.get(`${clientId}/local`);
      if (s) this.drop(s);
      this.local.delete(clientId);
    };
  }

  stop(): void {
    for (const s of this.stops.splice(0)) s();
    for (const s of [...this.streams.values()]) this.drop(s);
  }

  private onRequest(
    topic: string,
    payload: Buffer,
    p: Principal | undefined,
    clientId: string | null,
  ): void {
    if (!clientId || p?.kind !== 'admin' || logTopicClient(topic, 'req') !== clientId) return;
    const d = decode(logRequestSchema, payload);
    if (!d.ok)
      return this.complaints.warn(`req:${clientId}`, 'dropped log request', { reason: d.reason });
    const req = d.value;
    const s = this.streams.get(`${clientId}/${req.id}`);
    if (req.op === 'open') return this.open(clientId, req);
    if (!s)
      return this.reply(clientId, {
        v: 1,
        id: req.id,
        kind: 'error',
        code: 'not_found',
        message: 'this log stream has ended',
      });
    if (req.op === 'close') return this.drop(s);
    s.leaseUntil = this.deps.clock.now() + LEASE_MS;
    for (const node of s.liveNodes()) this.control(node, { v: 1, op: 'renew', ids: [s.wireId] });
  }

  private open(clientId: string, req: Extract<LogRequest, { op: 'open' }>): void {
    const fail = (code: string, message: string): void =>
      this.reply(clientId, { v: 1, id: req.id, kind: 'error', code, message });
    if (!this.deps.isLeader()) {
      const at = this.deps.leaderAddress();
      return fail(
        'not_leader',
        `this manager does not lead${at ? `: the leader is at ${at}` : ''}`,
      );
    }
    if (this.streams.has(`${clientId}/${req.id}`)) return;
    let parts;
    try {
      parts = resolveParts(this.deps.store, req.target);
    } catch (e) {
      return isFleetError(e) ? fail(e.code, e.message) : fail('internal', errorMessage(e));
    }
    const now = this.deps.clock.now();
    const wireId = randomBytes(8).toString('hex');
    const s = new RelayedStream(clientId, req.id, parts, req.read, now, LEASE_MS, wireId);
    this.streams.set(`${clientId}/${req.id}`, s);
    this.byWire.set(wireId, s);
    const opened = parts.map(({ key, name, taskId, node }) => ({
      key,
      name,
      node,
      ...(taskId ? { taskId } : {}),
    }));
    this.reply(clientId, { v: 1, id: req.id, kind: 'opened', parts: opened });
    for (const node of s.nodes()) {
      if (this.deps.store.node(node)?.status === 'down') {
        s.endNode(node, (p) => `-- node ${p.node} is down; its logs cannot be read now --`, now);
        continue;
      }
      const sources = parts
        .filter((p) => p.nodeId === node)
        .map((p) => ({ key: p.key, ...(p.taskId ? { taskId: p.taskId } : {}) }));
      this.control(node, { v: 1, op: 'start', id: wireId, sources, read: req.read });
    }
    this.ensureTicking();
  }

  private onData(topic: string, payload: Buffer, p: Principal | undefined): void {
    const nodeId = logDataNode(topic);
    if (nodeId === null || p?.kind !== 'node' || p.id !== nodeId) return;
    this.bytesIn += payload.length;
    const d = decode(logDataSchema, payload);
    if (!d.ok)
      return this.complaints.warn(`data:${nodeId}`, 'dropped log data', {
        nodeId,
        reason: d.reason,
      });
    const s = this.byWire.get(d.value.id);
    if (!s) {
      // A stream this manager no longer relays (ended, or from before a restart): stop it there.
      return this.control(nodeId, { v: 1, op: 'stop', id: d.value.id });
    }
    const now = this.deps.clock.now();
    if (d.value.started) s.acked.add(nodeId);
    if (d.value.gone) {
      const why = (p: { node: string }): string =>
        `-- node ${p.node} lost this stream (its agent reconnected); run the command again --`;
      s.endNode(nodeId, why, now);
    }
    s.accept(nodeId, d.value.lines, now);
    s.endParts(nodeId, d.value.ended);
    // Without a merge wait (one node), lines go on at once rather than at the next tick.
    if (s.merger.holdMs === 0) this.flush(s, now);
  }

  private tick(): void {
    const now = this.deps.clock.now();
    const leads = this.deps.isLeader();
    for (const s of [...this.streams.values()]) {
      if (!leads) {
        // The agents follow the new leader: nothing more comes here.
        const message = 'this manager stopped leading; run the command again';
        this.reply(s.clientId, { v: 1, id: s.id, kind: 'error', code: 'not_leader', message });
        this.drop(s);
        continue;
      }
      const local = this.local.get(s.clientId);
      if (local && now - local.renewedAt >= RENEW_MS) {
        local.renewedAt = now;
        s.leaseUntil = now + LEASE_MS;
        for (const node of s.liveNodes())
          this.control(node, { v: 1, op: 'renew', ids: [s.wireId] });
      }
      if (now > s.leaseUntil) {
        this.drop(s);
        continue;
      }
      for (const node of s.liveNodes()) this.checkNode(s, node, now);
      this.flush(s, now);
    }
  }

  /** Sends the stream's due lines; once every part ended and all is sent, ends the stream. */
  private flush(s: RelayedStream, now: number): void {
    const lines = s.due(now);
    for (const batch of batches(lines, LOG_PAYLOAD_MAX_BYTES - 1024))
      this.reply(s.clientId, { v: 1, id: s.id, kind: 'lines', lines: batch });
    if (s.finished) {
      this.reply(s.clientId, { v: 1, id: s.id, kind: 'end' });
      this.drop(s);
    }
  }

  /** A node that went down, or never answered, ends its parts with a line saying so. */
  private checkNode(s: RelayedStream, nodeId: string, now: number): void {
    const status = this.deps.store.node(nodeId)?.status;
    if (status === 'down' || status === undefined) {
      s.endNode(nodeId, (p) => `-- node ${p.node} went down; its logs end here --`, now);
    } else if (!s.acked.has(nodeId) && now - s.openedAt > ANSWER_MS) {
      s.endNode(nodeId, (p) => `-- node ${p.node} did not answer; its logs are missing --`, now);
    }
  }

  /** Forgets a stream and tells its agents to stop reading. */
  private drop(s: RelayedStream): void {
    this.streams.delete(`${s.clientId}/${s.id}`);
    this.byWire.delete(s.wireId);
    // Every node, ended parts too: an agent keeps a finished stream until told (or its lease ends).
    for (const node of s.nodes()) this.control(node, { v: 1, op: 'stop', id: s.wireId });
    if (this.streams.size === 0 && this.timer) {
      this.deps.clock.clearInterval(this.timer);
      this.timer = null;
    }
  }

  private ensureTicking(): void {
    this.timer ??= this.deps.clock.setInterval(() => this.tick(), TICK_MS);
  }

  private control(nodeId: string, msg: LogControl): void {
    this.send(logTopics.control(nodeId), msg);
  }

  private reply(clientId: string, res: LogResponse): void {
    const local = this.local.get(clientId);
    if (local) {
      try {
        local.sink(res);
      } catch (e) {
        this.complaints.warn(`sink:${clientId}`, 'a log reader failed', { error: errorMessage(e) });
      }
      return;
    }
    this.send(logTopics.response(clientId), res);
  }

  private send(topic: string, msg: unknown): void {
    this.deps.broker.publish(topic, encode(msg), { qos: 1 }).catch((e: unknown) =>
      this.complaints.warn(`send:${topic}`, 'could not send log message', {
        topic,
        error: errorMessage(e),
      }),
    );
  }
}
