// The agent's link to the managers: authenticated MQTT, failover across the address list, backoff.
import type { MqttClient } from 'mqtt';
import {
  CLOCK_SKEW_MS,
  certBodySchema,
  makeConnectProof,
  type Identity,
} from '../shared/identity.js';
import type { Logger } from '../shared/log.js';
import { topics } from '../shared/protocol.js';
import { connectMqtt } from '../shared/transport.js';

export interface ConnectionEvents {
  onConnected(address: string): void;
  onDisconnected(reason: string): void;
  onAssignment(payload: Buffer): void;
  onRenewReply?(payload: Buffer): void;
}

export interface ConnectionOptions {
  keepaliveS?: number;
  /** Plain TCP to a manager started with --insecure. */
  insecure?: boolean;
  now?: () => number;
}

export class ManagerConnection {
  private client: MqttClient | undefined;
  private attempt = 0;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  connectedTo: string | null = null;
  private readonly keepaliveS: number;
  private readonly now: () => number;

  constructor(
    private identity: Identity,
    private readonly managers: string[],
    private readonly events: ConnectionEvents,
    private readonly logger: Logger,
    private readonly opts: ConnectionOptions = {},
  ) {
    if (managers.length === 0) throw new Error('no manager addresses');
    this.keepaliveS = opts.keepaliveS ?? 5;
    this.now = opts.now ?? Date.now;
  }

  /** A renewed certificate: the live session carries on, the next connection presents it. */
  useIdentity(identity: Identity): void {
    this.identity = identity;
  }

  start(): void {
    this.connectNext();
  }

  get connected(): boolean {
    return this.connectedTo !== null;
  }

  /** Publishes when connected; returns false when the message could not be handed to the broker. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): boolean {
    const c = this.client;
    if (!c || !this.connectedTo) return false;
    c.publish(topic, payload, { qos }, (err) => {
      if (err) this.logger.debug('publish failed', { topic, error: err.message });
    });
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync(true).catch(() => undefined);
  }

  private connectNext(): void {
    if (this.closed) return;
    const address = this.managers[this.attempt % this.managers.length] ?? this.managers[0] ?? '';
    this.attempt++;
    const nodeId = this.identity.id;
    const transport = {
      insecure: this.opts.insecure === true,
      pin: { rootPub: this.identity.rootPub },
      now: this.now,
    };
    const client = connectMqtt(address, transport, {
      protocolVersion: 4,
      clientId: nodeId,
      username: nodeId,
      password: makeConnectProof(this.identity, nodeId, this.now()),
      clean: true,
      keepalive: this.keepaliveS,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      queueQoSZero: false,
      will: { topic: topics.will(nodeId), payload: Buffer.from('{}'), qos: 0, retain: false },
    });
    this.client = client;
    let failure = 'connection closed';
    client.on('connect', () => {
      this.attempt = 0;
      this.connectedTo = address;
      client.subscribe(
        [topics.assignments(nodeId), topics.renewReply(nodeId)],
        { qos: 1 },
        (err) => {
          if (err) this.logger.warn('could not subscribe to assignments', { error: err.message });
        },
      );
      this.logger.info('connected to manager', { address });
      this.events.onConnected(address);
    });
    client.on('message', (topic, payload) => {
      if (topic === topics.assignments(nodeId)) this.events.onAssignment(payload);
      else if (topic === topics.renewReply(nodeId)) this.events.onRenewReply?.(payload);
    });
    client.on('error', (err) => {
      const expired = this.certificateExpiredAt();
      if (expired !== null && /not authorized|bad user/i.test(err.message)) {
        failure = `certificate expired at ${new Date(expired).toISOString()}; the manager refuses it: remove this node's data dir and join again`;
        this.logger.error('certificate expired', { address, expiredAt: expired });
      } else {
        failure = /not authorized|bad user/i.test(err.message)
          ? `the manager at ${address} refused this node (${err.message}); was it removed?`
          : err.message;
      }
    });
    client.on('close', () => {
      if (this.client !== client) return;
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      const was = this.connectedTo;
      this.connectedTo = null;
      if (was) {
        this.logger.warn('lost the manager connection', { address: was, reason: failure });
        this.events.onDisconnected(failure);
      } else {
        this.logger.debug('manager unreachable', { address, reason: failure });
      }
      const delay =
        Math.min(500 * 2 ** Math.min(this.attempt, 4), 4_000) * (0.75 + Math.random() * 0.25);
      this.retryTimer = setTimeout(() => this.connectNext(), this.closed ? 0 : delay);
    });
  }

  /** The expiry of this node's certificate when it is past (beyond the skew boards are allowed). */
  private certificateExpiredAt(): number | null {
    try {
      const body = certBodySchema.parse(JSON.parse(this.identity.cert.body));
      return body.expiresAt < this.now() - CLOCK_SKEW_MS ? body.expiresAt : null;
    } catch {
      return null;
    }
  }
}
