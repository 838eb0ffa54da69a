// One outgoing MQTT connection from this manager to a peer manager's broker, for Raft messages and snapshot chunks.
import type { MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { makeConnectProof, type Identity } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import { connectMqtt } from '../../shared/transport.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { SnapshotChunks } from './wire.js';

/**
 * Bytes queued on a peer connection past which new messages are dropped rather than buffered:
 * a slow or stalled peer must not grow the sender's memory, and Raft resends what it needs.
 */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

interface PeerLinkOptions {
  peerId: string;
  address: string;
  selfId: string;
  identity: Identity;
  rootPub: string;
  insecure: boolean;
  logger: Logger;
  clock: Clock;
  /** Uniform in [0, 1): spreads the reconnection pauses of several managers apart. */
  random: () => number;
  onState: (up: boolean) => void;
}

/**
 * One outgoing connection to a peer manager's broker, authenticated like an agent: client id and
 * username are this manager's node id, the password a fresh connect proof at every connection
 * (the broker refuses a replayed one). Reconnects with backoff until closed.
 */
export class PeerLink {
  up = false;
  private client: MqttClient | undefined;
  private attempt = 0;
  private closed = false;
  private retry: TimerHandle | undefined;
  /** The snapshot transfer in progress; a newer one or a lost connection ends it. */
  private transfer: { done: (ok: boolean) => void } | undefined;
  private readonly complaints: RateLimitedLog;

  constructor(private readonly o: PeerLinkOptions) {
    this.complaints = new RateLimitedLog(o.logger, 60_000, o.clock);
  }

  get address(): string {
    return this.o.address;
  }

  start(): void {
    this.connect();
  }

  /** Hands a payload to the connection; false when it is down or too far behind. */
  publish(topic: string, payload: Buffer): boolean {
    const c = this.client;
    if (!c || !this.up || c.stream.writableLength > MAX_BUFFERED_BYTES) return false;
    c.publish(topic, payload, { qos: 0 }, (err) => {
      if (err)
        this.o.logger.debug('raft publish failed', { to: this.o.peerId, error: err.message });
    });
    return true;
  }

  /**
   * Publishes the chunks one after another, each once the previous one was written (so a big
   * snapshot never sits in the socket buffer whole), yielding in between so heartbeats go too.
   */
  sendChunks(
    topic: string,
    chunks: SnapshotChunks,
    cut: () => boolean,
    done: (ok: boolean) => void,
  ): void {
    this.endTransfer(false);
    const c = this.client;
    const transfer = { done };
    this.transfer = transfer;
    let i = 0;
    const next = (): void => {
      if (this.transfer !== transfer) return;
      const chunk = i < chunks.total ? chunks.chunk(i) : undefined;
      if (!chunk || cut() || !this.up || this.client !== c || !c) return this.endTransfer(false);
      c.publish(topic, chunk, { qos: 0 }, (err) => {
        if (this.transfer !== transfer) return;
        if (err) return this.endTransfer(false);
        if (++i === chunks.total) return this.endTransfer(true);
        setImmediate(next);
      });
    };
    next();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) this.o.clock.clearTimeout(this.retry);
    this.endTransfer(false);
    this.up = false;
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync(true).catch(() => undefined);
  }

  private endTransfer(ok: boolean): void {
    const t = this.transfer;
    if (!t) return;
    this.transfer = undefined;
    t.done(ok);
  }

  private connect(): void {
    if (this.closed) return;
    this.attempt++;
    const { selfId, address, peerId } = this.o;
    const transport = {
      insecure: this.o.insecure,
      pin: { rootPub: this.o.rootPub },
      now: () => this.o.clock.now(),
    };
    const client = connectMqtt(address, transport, {
      protocolVersion: 4,
      clientId: selfId,
      username: selfId,
      password: makeConnectProof(this.o.identity, selfId, this.o.clock.now()),
      clean: true,
      keepalive: 5,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      queueQoSZero: false,
    });
    this.client = client;
    let failure = 'connection closed';
    client.on('connect', () => {
      this.attempt = 0;
      this.up = true;
      this.o.logger.info('connected to raft peer', { peer: peerId, address });
      this.o.onState(true);
    });
    client.on('error', (err) => (failure = err.message));
    client.on('close', () => {
      if (this.client !== client) return;
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      this.client = undefined;
      this.endTransfer(false);
      const was = this.up;
      this.up = false;
      if (was) {
        this.o.logger.warn('lost raft peer', { peer: peerId, address, reason: failure });
        this.o.onState(false);
      } else if (/not authori[sz]ed|bad user/i.test(failure)) {
        // Worth an operator's eye: the peer does not (yet) know this manager's certificate.
        this.complaints.warn(`refused:${peerId}`, 'raft peer refused this manager', {
          peer: peerId,
          address,
          reason: failure,
        });
      } else {
        this.o.logger.debug('raft peer unreachable', { peer: peerId, address, reason: failure });
      }
      if (this.closed) return;
      const delay =
        Math.min(100 * 2 ** Math.min(this.attempt, 5), 3_000) * (0.75 + this.o.random() * 0.25);
      this.retry = this.o.clock.setTimeout(() => this.connect(), delay);
    });
  }
}
