// Flood protection for the broker: per-topic payload caps, per-client token buckets, and cutting off floods.
import type { Logger } from '../../shared/log.js';
import {
  PREFIX,
  INGRESS_STATS_MAX_BYTES,
  MAX_PAYLOAD_BYTES,
  RAFT_MAX_PAYLOAD_BYTES,
} from '../../shared/protocol.js';
import { BLOB_FRAME_MAX_BYTES } from '../../shared/images/blob-protocol.js';
import { LOG_PAYLOAD_MAX_BYTES } from '../../shared/log-stream.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import { isRaftTopic, type Principal } from './acl.js';

/** Topic families, told apart by the topic's last level (the ACL has already confined the rest). */
export type TopicFamily =
  | 'hb'
  | 'status'
  | 'will'
  | 'ingress'
  | 'rpc'
  | 'join'
  | 'raft'
  | 'raftSnap'
  | 'blob'
  | 'logs'
  | 'other';

/** Largest payload accepted per family; bigger ones are dropped before any handler sees them. */
export const PAYLOAD_CAPS: Readonly<Record<TopicFamily, number>> = {
  hb: 1024, // {"v":1,"seq":N,"ts":N} is about 50 bytes
  will: 1024, // the agent's will is "{}"
  status: MAX_PAYLOAD_BYTES, // up to 1000 task reports
  ingress: INGRESS_STATS_MAX_BYTES, // an agent's per-port counters, trimmed to fit
  rpc: MAX_PAYLOAD_BYTES, // a service spec with a large environment
  join: 8 * 1024, // keys, token, signature and a few dozen labels
  raft: RAFT_MAX_PAYLOAD_BYTES, // a batch of appends between managers
  raftSnap: MAX_PAYLOAD_BYTES, // one snapshot chunk: 128 KiB as base64 plus its envelope
  blob: BLOB_FRAME_MAX_BYTES, // one chunk of an image upload and its header
  logs: LOG_PAYLOAD_MAX_BYTES, // a batch of log lines from an agent, or a CLI's request
  other: 4 * 1024,
};

export interface RateLimit {
  /** Messages per second refilled into the bucket. */
  msgsPerSec: number;
  /** Bucket size: how many messages may arrive at once after a quiet spell. */
  msgBurst: number;
  bytesPerSec: number;
  byteBurst: number;
  /** Dropped messages within one second that get the client disconnected. */
  disconnectAfterDrops: number;
}

/**
 * Per kind of client. An agent sends one heartbeat per period (2 s by default, 100 ms at the
 * smallest allowed period) plus a status on every task change, so 50 a second sustained with a
 * burst of 500 leaves a wide margin; admins run scripted CLI loops and benchmarks.
 */
export const RATE_LIMITS: Readonly<Record<Principal['kind'], RateLimit>> = {
  node: {
    msgsPerSec: 50,
    msgBurst: 500,
    bytesPerSec: 2 * 1024 * 1024,
    byteBurst: 8 * 1024 * 1024,
    disconnectAfterDrops: 200,
  },
  admin: {
    msgsPerSec: 500,
    msgBurst: 5_000,
    bytesPerSec: 16 * 1024 * 1024,
    byteBurst: 64 * 1024 * 1024,
    disconnectAfterDrops: 2_000,
  },
  join: {
    msgsPerSec: 10,
    msgBurst: 30,
    bytesPerSec: 64 * 1024,
    byteBurst: 256 * 1024,
    disconnectAfterDrops: 30,
  },
};

/**
 * Raft traffic between managers has its own bucket, far above any node's: a leader sends
 * hundreds of appends a second to each follower in a burst, and a snapshot is hundreds of
 * 128 KiB chunks back to back. Only manager principals reach these topics (the ACL ran first),
 * and they are trusted with the whole cluster state anyway; the bucket only keeps a runaway
 * manager from starving the broker. A Raft peer is never cut off: dropping is enough, as Raft
 * retransmits, while a disconnect would stall replication for a reconnect.
 */
export const RAFT_RATE_LIMIT: Readonly<RateLimit> = {
  msgsPerSec: 10_000,
  msgBurst: 50_000,
  bytesPerSec: 256 * 1024 * 1024,
  byteBurst: 1024 * 1024 * 1024,
  disconnectAfterDrops: Number.POSITIVE_INFINITY,
};

/**
 * Image uploads (the blob channel) have their own bucket too: a push of a 100 MB image is 400
 * chunks back to back, far above what RPC needs. Drops are enough, as the uploader resumes from
 * what the manager holds.
 */
export const BLOB_RATE_LIMIT: Readonly<RateLimit> = {
  msgsPerSec: 2_000,
  msgBurst: 4_000,
  bytesPerSec: 512 * 1024 * 1024,
  byteBurst: 1024 * 1024 * 1024,
  disconnectAfterDrops: Number.POSITIVE_INFINITY,
};

export type Verdict = 'accept' | 'drop' | 'disconnect';

interface ClientState {
  kind: Principal['kind'];
  msgTokens: number;
  byteTokens: number;
  refilledAt: number;
  windowStart: number;
  windowMsgs: number;
  windowDrops: number;
  cutOff: boolean;
}

export function topicFamily(topic: string): TopicFamily {
  // First: a Raft topic ends in a manager id, which says nothing about its family.
  if (isRaftTopic(topic)) return topic.endsWith('/snap') ? 'raftSnap' : 'raft';
  const last = topic.slice(topic.lastIndexOf('/') + 1);
  if (last === 'hb' || last === 'status' || last === 'will' || last === 'ingress') return last;
  if (topic.includes('/rpc/')) return 'rpc';
  if (topic.startsWith(`${PREFIX}/blobs/`)) return 'blob';
  if (last === 'logs' || topic.startsWith(`${PREFIX}/logs/`)) return 'logs';
  if (topic.includes('/join/')) return 'join';
  return 'other';
}

/**
 * Decides, per incoming publish, whether it is accepted, dropped, or ends the connection.
 * State is keyed by connection object, so a gone connection's state goes with it.
 * O(1) per message: one WeakMap lookup and a little arithmetic.
 */
export class FloodGuard {
  private readonly state = new WeakMap<object, ClientState>();
  /** A manager's Raft traffic, apart from its other publishes. */
  private readonly raftState = new WeakMap<object, ClientState>();
  /** A client's blob channel, apart from its other publishes. */
  private readonly blobState = new WeakMap<object, ClientState>();
  private readonly complaints: RateLimitedLog;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly limits: Readonly<Record<Principal['kind'], RateLimit>> = RATE_LIMITS,
    private readonly caps: Readonly<Record<TopicFamily, number>> = PAYLOAD_CAPS,
    private readonly raftLimit: Readonly<RateLimit> = RAFT_RATE_LIMIT,
    private readonly blobLimit: Readonly<RateLimit> = BLOB_RATE_LIMIT,
  ) {
    this.complaints = new RateLimitedLog(logger, 5_000, { now });
  }

  check(
    conn: object,
    clientId: string,
    kind: Principal['kind'],
    topic: string,
    bytes: number,
  ): Verdict {
    const t = this.now();
    const family = topicFamily(topic);
    const raft = family === 'raft' || family === 'raftSnap';
    const blob = family === 'blob';
    const limit = raft ? this.raftLimit : blob ? this.blobLimit : this.limits[kind];
    const states = raft ? this.raftState : blob ? this.blobState : this.state;
    let s = states.get(conn);
    if (!s || s.kind !== kind) {
      s = {
        kind,
        msgTokens: limit.msgBurst,
        byteTokens: limit.byteBurst,
        refilledAt: t,
        windowStart: t,
        windowMsgs: 0,
        windowDrops: 0,
        cutOff: false,
      };
      states.set(conn, s);
    }
    if (s.cutOff) return 'disconnect';
    if (t - s.windowStart >= 1_000) {
      s.windowStart = t;
      s.windowMsgs = 0;
      s.windowDrops = 0;
    }
    s.windowMsgs++;
    const elapsed = t - s.refilledAt;
    if (elapsed > 0) {
      s.msgTokens = Math.min(limit.msgBurst, s.msgTokens + (elapsed * limit.msgsPerSec) / 1_000);
      s.byteTokens = Math.min(
        limit.byteBurst,
        s.byteTokens + (elapsed * limit.bytesPerSec) / 1_000,
      );
      s.refilledAt = t;
    }
    const cap = this.caps[family];
    if (bytes > cap) {
      this.complaints.warn(`size:${clientId}:${family}`, 'payload too large', {
        clientId,
        topic,
        bytes,
        cap,
      });
      return this.dropped(s, limit, clientId, topic);
    }
    if (s.msgTokens < 1 || s.byteTokens < bytes) {
      this.complaints.warn(`rate:${clientId}`, 'rate limit exceeded', {
        clientId,
        topic,
        bytes,
        perSecond: limit.msgsPerSec,
      });
      return this.dropped(s, limit, clientId, topic);
    }
    s.msgTokens -= 1;
    s.byteTokens -= bytes;
    return 'accept';
  }

  private dropped(s: ClientState, limit: RateLimit, clientId: string, topic: string): Verdict {
    s.windowDrops++;
    if (s.windowDrops < limit.disconnectAfterDrops) return 'drop';
    s.cutOff = true;
    this.logger.warn(`disconnecting ${clientId}: flooding, ${s.windowMsgs} messages in 1s`, {
      clientId,
      topic,
      dropped: s.windowDrops,
    });
    return 'disconnect';
  }
}
