// The embedded MQTT broker: aedes on a TLS listener (plain TCP with --insecure), every connection authenticated and confined.
import { Aedes, type Client, type AedesPublishPacket } from 'aedes';
import net from 'node:net';
import tls from 'node:tls';
import { indexRetained, type RetainedPacket, type RetainedStore } from './retained-index.js';
import { CLOCK_SKEW_MS, clientIdBelongsTo, verifyConnectProof } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import type { Clock } from '../../shared/clock.js';
import { PREFIX } from '../../shared/protocol.js';
import { workerClientId } from '../../shared/worker.js';
import { managerBlobClientId } from '../../shared/images/blob-protocol.js';
import type { ClusterRecord } from '../store/commands.js';
import type { StoreView } from '../store/store.js';
import { mayPublish, maySubscribe, type Principal } from './acl.js';
import { NonceCache } from './replay.js';
import { FloodGuard } from './flood.js';

export type MessageHandler = (
  topic: string,
  payload: Buffer,
  principal: Principal | undefined,
  clientId: string | null,
) => void;

export interface BrokerEvents {
  onConnect?: (clientId: string, p: Principal) => void;
  onDisconnect?: (clientId: string, p: Principal) => void;
}

export interface BrokerOptions {
  /**
   * A manager that has just joined holds no state yet, only the cluster record from its join
   * reply: until the leader's snapshot arrives, it lets in the cluster's managers (certificate
   * checked against this root key) so that the snapshot can reach it.
   */
  joiningCluster?: ClusterRecord | undefined;
}

export class Broker {
  private aedes!: Aedes;
  private server: net.Server | undefined;
  /** Connect proofs seen within the skew window: each signed nonce opens one connection. */
  private readonly nonces = new NonceCache(CLOCK_SKEW_MS);
  /** Per connection, not per client id: a takeover must not lose or reuse the other's principal. */
  private readonly principals = new WeakMap<Client, Principal>();
  private readonly clients = new Map<string, Client>();
  private readonly handlers: { prefix: string; fn: MessageHandler }[] = [];
  /** Payloads of publishes the flood guard dropped: routed by aedes, never handed to handlers. */
  private readonly dropped = new WeakSet<object>();
  private readonly flood: FloodGuard;
  events: BrokerEvents = {};
  /** Counters since start, for metrics: publishes from clients and from this manager, and drops. */
  readonly counters = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, dropped: 0 };

  constructor(
    private readonly store: StoreView,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly opts: BrokerOptions = {},
  ) {
    this.flood = new FloodGuard(logger, () => clock.now());
  }

  /** Listens with TLS when given the listener's certificate chain and key, plain TCP otherwise. */
  async start(
    host: string,
    port: number,
    tlsMaterial?: { certChainPem: string; keyPem: string },
  ): Promise<{ host: string; port: number }> {
    this.aedes = await this.createAedes();
    indexRetained(this.persistence());
    this.watchClients();
    const handle = (socket: net.Socket): void => {
      socket.setNoDelay(true);
      this.aedes.handle(socket);
    };
    const server = tlsMaterial ? this.tlsServer(tlsMaterial, handle) : net.createServer(handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    const actualPort = typeof addr === 'object' && addr ? addr.port : port;
    return { host, port: actualPort };
  }

  /** Aedes with this broker's checks: who may connect, publish and subscribe. */
  private createAedes(): Promise<Aedes> {
    return Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const r = this.authenticate(client.id, username, password);
        if (r.ok) {
          this.principals.set(client, r.principal);
          done(null, true);
        } else {
          this.logger.warn('connection refused', { clientId: client.id, reason: r.reason });
          const err = Object.assign(new Error(r.reason), { returnCode: r.code });
          done(err, false);
        }
      },
      authorizePublish: (client, packet, done) => {
        if (!client) return done(null); // the broker's own will delivery of a gone client
        const p = this.principals.get(client);
        if (!p || !mayPublish(p, client.id, packet.topic)) {
          this.logger.warn('publish refused', { clientId: client.id, topic: packet.topic });
          return done(new Error('not authorized to publish on ' + packet.topic));
        }
        const bytes = packet.payload.length;
        const verdict = this.flood.check(client, client.id, p.kind, packet.topic, bytes);
        if (verdict === 'disconnect') return done(new Error('flooding'));
        packet.retain = false; // clients never need the broker to keep their messages
        if (verdict === 'drop') {
          this.counters.dropped++;
          this.dropped.add(packet.payload as object);
        }
        done(null);
      },
      authorizeSubscribe: (client, sub, done) => {
        const p = this.principals.get(client);
        if (!p || !maySubscribe(p, client.id, sub.topic)) {
          this.logger.warn('subscribe refused', { clientId: client.id, topic: sub.topic });
          return done(null, null); // MQTT 3.1.1: granted QoS 0x80, connection kept
        }
        done(null, sub);
      },
      drainTimeout: 10_000,
      connectTimeout: 10_000,
      concurrency: 1000,
      heartbeatInterval: 3_600_000,
    });
  }

  /** Tracks connected clients and hands every routed publish to the in-process handlers. */
  private watchClients(): void {
    this.aedes.on('clientReady', (c) => {
      this.clients.set(c.id, c);
      const p = this.principals.get(c);
      if (p) this.events.onConnect?.(c.id, p);
    });
    this.aedes.on('clientDisconnect', (c) => this.forget(c));
    this.aedes.on('clientError', (c, err) => {
      this.logger.debug('client error', { clientId: c.id, error: err.message });
    });
    this.aedes.on('publish', (packet, client) => this.dispatch(packet, client));
  }

  private tlsServer(
    material: { certChainPem: string; keyPem: string },
    handle: (socket: net.Socket) => void,
  ): net.Server {
    const server = tls.createServer(
      { cert: material.certChainPem, key: material.keyPem, minVersion: 'TLSv1.2' },
      handle,
    );
    // A plain-TCP client or a scanner fails the handshake here, before aedes sees a byte.
    server.on('tlsClientError', (err, socket) => {
      this.logger.debug('TLS handshake failed', {
        remote: socket.remoteAddress,
        error: err.message,
      });
    });
    return server;
  }

  /** Registers an in-process handler for every message on topics under the prefix; returns its removal. */
  onMessage(prefix: string, fn: MessageHandler): () => void {
    const h = { prefix, fn };
    this.handlers.push(h);
    return () => {
      const i = this.handlers.indexOf(h);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  publish(
    topic: string,
    payload: Buffer,
    opts: { retain?: boolean; qos?: 0 | 1 } = {},
  ): Promise<void> {
    this.counters.messagesOut++;
    this.counters.bytesOut += payload.length;
    return new Promise((resolve, reject) => {
      this.aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload,
          qos: opts.qos ?? 1,
          retain: opts.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  /**
   * Replaces the retained message of a topic without delivering it to anyone subscribed now:
   * the next subscriber gets it (an agent's assignment delta went out on its own topic).
   */
  retainOnly(topic: string, payload: Buffer): Promise<void> {
    return Promise.resolve(
      this.persistence().storeRetained({
        cmd: 'publish',
        topic,
        payload,
        qos: 1,
        retain: true,
        dup: false,
        brokerId: this.aedes.id,
        brokerCounter: 0,
      } as RetainedPacket),
    );
  }

  /** aedes' persistence, which its typings leave untyped. */
  private persistence(): RetainedStore {
    return (this.aedes as unknown as { persistence: RetainedStore }).persistence;
  }

  /** Drops every live connection of the identity (a removed node, a revoked certificate). */
  disconnectIdentity(id: string): void {
    for (const [clientId, c] of this.clients) {
      if (clientIdBelongsTo(clientId, id)) c.close();
    }
  }

  isConnected(clientId: string): boolean {
    return this.clients.has(clientId);
  }

  get connectedClients(): number {
    return this.clients.size;
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private forget(c: Client): void {
    if (this.clients.get(c.id) !== c) return; // a newer connection with this id took over
    this.clients.delete(c.id);
    const p = this.principals.get(c);
    if (p) this.events.onDisconnect?.(c.id, p);
  }

  private dispatch(packet: AedesPublishPacket, client: Client | null): void {
    if (!packet.topic.startsWith(PREFIX + '/')) return;
    if (this.dropped.delete(packet.payload as object)) return;
    if (client) {
      this.counters.messagesIn++;
      this.counters.bytesIn += packet.payload.length;
    }
    const principal = client ? this.principals.get(client) : undefined;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    for (const h of this.handlers) {
      if (!packet.topic.startsWith(h.prefix)) continue;
      try {
        h.fn(packet.topic, payload, principal, client?.id ?? null);
      } catch (e) {
        this.logger.error('message handler failed', { topic: packet.topic, error: String(e) });
      }
    }
  }

  private authenticate(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
  ): { ok: true; principal: Principal } | { ok: false; reason: string; code: number } {
    const cluster = this.store.cluster() ?? this.opts.joiningCluster;
    if (!cluster) return { ok: false, reason: 'cluster not initialised', code: 3 };
    const joining = !this.store.cluster();
    if (!username || !password) return { ok: false, reason: 'anonymous connection', code: 5 };
    const secret = password.toString('utf8');
    if (username === 'join') {
      if (secret === cluster.workerToken)
        return { ok: true, principal: { kind: 'join', role: 'worker' } };
      if (secret === cluster.managerToken)
        return { ok: true, principal: { kind: 'join', role: 'manager' } };
      return { ok: false, reason: 'invalid join token', code: 4 };
    }
    const now = this.clock.now();
    const check = verifyConnectProof(secret, clientId, cluster.rootPub, now);
    if (!check.ok) return { ok: false, reason: check.reason, code: 4 };
    const cert = check.body;
    if (cert.id !== username || !clientIdBelongsTo(clientId, cert.id)) {
      return { ok: false, reason: 'client id does not match certificate', code: 4 };
    }
    // Checked after the signature, so only a proof its owner really made can fill the cache.
    if (!this.nonces.use(`${cert.id}|${check.nonce}`, check.ts, now)) {
      return { ok: false, reason: 'replayed credentials', code: 4 };
    }
    if (cert.role === 'admin') return { ok: true, principal: { kind: 'admin', id: cert.id } };
    if (joining) {
      if (cert.role !== 'manager' || clientId !== cert.id)
        return { ok: false, reason: 'this manager is still joining the cluster', code: 3 };
      return { ok: true, principal: { kind: 'node', id: cert.id, role: 'manager' } };
    }
    const node = this.store.node(cert.id);
    if (!node || (node.certSerial !== cert.serial && node.prevCertSerial !== cert.serial)) {
      return { ok: false, reason: 'node is not a member of this cluster', code: 5 };
    }
    // The agent beside a manager is the same node under a second client id (shared/worker.ts),
    // and so is its blob replicator copying images and releases from its peers.
    const beside =
      cert.role === 'manager' &&
      (clientId === workerClientId(cert.id) || clientId === managerBlobClientId(cert.id));
    if (clientId !== cert.id && !beside)
      return { ok: false, reason: 'nodes connect with their own id', code: 4 };
    return { ok: true, principal: { kind: 'node', id: cert.id, role: cert.role } };
  }
}
