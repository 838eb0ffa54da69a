// Raft messages between managers: received on the own broker's raft topic, sent through one MQTT client per peer broker.
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import { PREFIX, RAFT_MAX_PAYLOAD_BYTES, topics } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { Principal } from '../broker/acl.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { Message } from './core/types.js';
import { PeerLink } from './peer-link.js';
import {
  SnapshotAssembler,
  batchOverhead,
  decodeBatch,
  decodeChunk,
  encodeBatch,
  encodeMessage,
  encodeSnapshotChunks,
  type SnapshotChunks,
} from './wire.js';

export interface RaftTransportOptions {
  selfId: string;
  /** The local embedded broker, on which peers publish to this manager. */
  broker: Broker;
  /** This manager's node identity, for its connections to the peers' brokers. */
  identity: Identity;
  /** The cluster root key the peers' TLS listeners must chain to. */
  rootPub: string;
  insecure: boolean;
  logger: Logger;
  /** Validated messages addressed to selfId. */
  onMessages: (msgs: Message[]) => void;
  onPeerState?: (id: string, connected: boolean) => void;
  /** A snapshot's last chunk was handed to the peer's connection (ok), or the transfer failed. */
  onSnapshotSent?: (to: string, ok: boolean) => void;
  /** Timestamps, the stalled-snapshot sweep and reconnection pauses (systemClock unless given). */
  clock?: Clock;
  /** Jitter of reconnection pauses (Math.random unless given). */
  random?: () => number;
}

export interface TransportStats {
  sent: number;
  received: number;
  dropped: number;
  rejected: number;
}

export class RaftTransport {
  private readonly links = new Map<string, PeerLink>();
  private partitioned = new Set<string>();
  private readonly assembler: SnapshotAssembler;
  private readonly complaints: RateLimitedLog;
  private readonly counts: TransportStats = { sent: 0, received: 0, dropped: 0, rejected: 0 };
  private readonly unsubscribe: () => void;
  private readonly sweeper: TimerHandle;
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly opts: RaftTransportOptions) {
    this.clock = opts.clock ?? systemClock;
    this.assembler = new SnapshotAssembler(opts.selfId, this.clock);
    this.complaints = new RateLimitedLog(opts.logger, 5_000, this.clock);
    const batchTopic = topics.raft(opts.selfId);
    const snapTopic = topics.raftSnap(opts.selfId);
    this.unsubscribe = opts.broker.onMessage(`${PREFIX}/raft/`, (topic, payload, principal) => {
      if (topic === batchTopic) this.receiveBatch(payload, principal);
      else if (topic === snapTopic) this.receiveChunk(payload, principal);
      // Nobody reads it here: a peer holds a wrong address for some manager.
      else this.reject('elsewhere', 'raft message for another manager', { topic, principal });
    });
    this.sweeper = this.clock.setInterval(() => {
      for (const from of this.assembler.sweep()) {
        this.complaints.warn(`snap-timeout:${from}`, 'abandoned a stalled snapshot', { from });
      }
    }, 5_000);
  }

  /** id -> "host:port"; opens, closes and re-targets the outgoing connections. Self is ignored. */
  setPeers(peers: ReadonlyMap<string, string>): void {
    if (this.closed) return;
    for (const [id, link] of this.links) {
      if (peers.get(id) === link.address) continue;
      this.links.delete(id);
      void link.close();
    }
    for (const [id, address] of peers) {
      if (id === this.opts.selfId || this.links.has(id)) continue;
      const link = new PeerLink({
        peerId: id,
        address,
        selfId: this.opts.selfId,
        identity: this.opts.identity,
        rootPub: this.opts.rootPub,
        insecure: this.opts.insecure,
        logger: this.opts.logger,
        clock: this.clock,
        random: this.opts.random ?? Math.random,
        onState: (up) => {
          if (this.links.get(id) === link) this.opts.onPeerState?.(id, up);
        },
      });
      this.links.set(id, link);
      link.start();
    }
  }

  /** Groups by recipient, one publish per peer (more only past the payload cap); never throws. */
  send(msgs: Message[]): void {
    const byPeer = new Map<string, Message[]>();
    for (const m of msgs) {
      if (m.type === 'snap') {
        this.sendSnapshot(m);
        continue;
      }
      let list = byPeer.get(m.to);
      if (!list) byPeer.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, list] of byPeer) {
      const link = this.usableLink(to);
      if (!link) {
        this.counts.dropped += list.length;
        continue;
      }
      try {
        this.publishBatches(link, to, list);
      } catch (e) {
        // Raft resends what is lost; a send must never take the caller's loop down.
        this.counts.dropped += list.length;
        this.complaints.error(`send:${to}`, 'raft send failed', { to, error: String(e) });
      }
    }
  }

  /** True while the outgoing connection to that peer is up (and not cut by fault injection). */
  connected(id: string): boolean {
    return this.links.get(id)?.up === true && !this.partitioned.has(id);
  }

  /** Fault injection for tests: drops every message to and from these peers until cleared. */
  setPartition(peers: Iterable<string>): void {
    this.partitioned = new Set(peers);
    for (const id of this.partitioned) this.assembler.drop(id);
  }

  stats(): TransportStats {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.clock.clearInterval(this.sweeper);
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((l) => l.close()));
  }

  private usableLink(to: string): PeerLink | undefined {
    if (this.closed || this.partitioned.has(to)) return undefined;
    const link = this.links.get(to);
    return link?.up ? link : undefined;
  }

  private publishBatches(link: PeerLink, to: string, list: Message[]): void {
    const topic = topics.raft(to);
    const overhead = batchOverhead(this.opts.selfId);
    let batch: string[] = [];
    let bytes = overhead;
    const flush = (): void => {
      if (batch.length === 0) return;
      const n = batch.length;
      if (link.publish(topic, encodeBatch(this.opts.selfId, batch))) this.counts.sent += n;
      else this.counts.dropped += n;
      batch = [];
      bytes = overhead;
    };
    for (const m of list) {
      const json = encodeMessage(m);
      const size = Buffer.byteLength(json) + 1;
      if (size + overhead > RAFT_MAX_PAYLOAD_BYTES) {
        this.counts.dropped++;
        this.complaints.error(`too-big:${to}`, 'raft message too large to send', {
          to,
          type: m.type,
          bytes: size,
        });
        continue;
      }
      if (bytes + size > RAFT_MAX_PAYLOAD_BYTES) flush();
      batch.push(json);
      bytes += size;
    }
    flush();
  }

  private sendSnapshot(m: Message): void {
    const link = this.usableLink(m.to);
    if (!link) {
      this.counts.dropped++;
      this.opts.onSnapshotSent?.(m.to, false);
      return;
    }
    let chunks: SnapshotChunks;
    try {
      chunks = encodeSnapshotChunks(m);
    } catch (e) {
      this.counts.dropped++;
      this.opts.logger.error('cannot send snapshot', { to: m.to, error: String(e) });
      this.opts.onSnapshotSent?.(m.to, false);
      return;
    }
    this.counts.sent++;
    link.sendChunks(
      topics.raftSnap(m.to),
      chunks,
      () => this.partitioned.has(m.to),
      (ok) => {
        if (!ok) this.counts.dropped++;
        this.opts.onSnapshotSent?.(m.to, ok);
      },
    );
  }

  private sender(principal: Principal | undefined): string | undefined {
    // Only a manager's own connection speaks for it: its node id is the one its certificate holds.
    if (principal?.kind !== 'node' || principal.role !== 'manager') return undefined;
    return principal.id;
  }

  private reject(key: string, msg: string, fields: Record<string, unknown>): void {
    this.counts.rejected++;
    this.complaints.warn(key, msg, fields);
  }

  private receiveBatch(payload: Buffer, principal: Principal | undefined): void {
    if (this.closed) return;
    const sender = this.sender(principal);
    if (!sender)
      return this.reject('not-manager', 'raft message from a non-manager', { principal });
    const r = decodeBatch(payload);
    if (!r.ok)
      return this.reject(`bad:${sender}`, 'bad raft batch', { from: sender, reason: r.reason });
    const b = r.value;
    if (b.from !== sender || b.msgs.some((m) => m.from !== sender || m.to !== this.opts.selfId)) {
      return this.reject(`lie:${sender}`, 'raft batch with a false sender or recipient', {
        from: sender,
        claimed: b.from,
      });
    }
    if (this.partitioned.has(sender)) {
      this.counts.dropped += b.msgs.length;
      return;
    }
    this.deliver(b.msgs);
  }

  private receiveChunk(payload: Buffer, principal: Principal | undefined): void {
    if (this.closed) return;
    const sender = this.sender(principal);
    if (!sender) return this.reject('not-manager', 'raft chunk from a non-manager', { principal });
    const r = decodeChunk(payload);
    if (!r.ok)
      return this.reject(`bad:${sender}`, 'bad snapshot chunk', { from: sender, reason: r.reason });
    if (r.value.from !== sender) {
      return this.reject(`lie:${sender}`, 'snapshot chunk with a false sender', {
        from: sender,
        claimed: r.value.from,
      });
    }
    if (this.partitioned.has(sender)) {
      this.counts.dropped++;
      return;
    }
    const a = this.assembler.add(r.value);
    if (a.kind === 'error') {
      return this.reject(`snap:${sender}`, 'snapshot transfer refused', {
        from: sender,
        reason: a.reason,
      });
    }
    if (a.kind === 'done') this.deliver([a.msg]);
  }

  private deliver(msgs: Message[]): void {
    this.counts.received += msgs.length;
    try {
      this.opts.onMessages(msgs);
    } catch (e) {
      this.opts.logger.error('raft message handler failed', { error: String(e) });
    }
  }
}
