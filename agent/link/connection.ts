// The agent's link to the managers: authenticated MQTT, failover across the address list, backoff, following the leader.
import { blobTopics } from '../../shared/images/blob-protocol.js';
import { assignmentDeltaTopic } from '../../shared/assignment-delta.js';
import type { MqttClient } from 'mqtt';
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import {
  CLOCK_SKEW_MS,
  certBodySchema,
  makeConnectProof,
  type Identity,
} from '../../shared/identity.js';
import { addressesOf, mergeAddresses, sameAddress } from '../../shared/leader.js';
import type { Logger } from '../../shared/log.js';
import { decode, leaderInfoSchema, topics, type LeaderInfo } from '../../shared/protocol.js';
import { noticeSchema } from '../../shared/protocol-version.js';
import { connectMqtt } from '../../shared/transport.js';
import { LeaderFollower } from './leader-follow.js';
import { logTopics } from '../../shared/log-stream.js';
import { chaosTopics } from '../../shared/chaos.js';
import type { LinkFaults } from '../chaos/link-faults.js';
import { discard, retire } from './client-ends.js';

export interface ConnectionEvents {
  onConnected(address: string): void;
  onDisconnected(reason: string): void;
  onAssignment(payload: Buffer): void;
  /** Only the changes since the last assignment (shared/assignment-delta.ts). */
  onAssignmentDelta?(payload: Buffer): void;
  onRenewReply?(payload: Buffer): void;
  /** The routing mesh's table (retained by the leader). */
  onIngressTable?(payload: Buffer): void;
  /** The discovery table of the networks (retained by the leader). */
  onDiscoveryTable?(payload: Buffer): void;
  /** The connected manager's word on the leadership, once acted upon (a move started or paced). */
  onLeaderInfo?(info: LeaderInfo): void;
  /** A response on this client's blob channel (image transfers). */
  onBlobResponse?(payload: Buffer): void;
  /** The manager's word on which logs to send (shared/log-stream.ts). */
  onLogControl?(payload: Buffer): void;
  /** A signed fault order (agent/chaos); subscribed to only when given. */
  onChaosOrder?(payload: Buffer): void;
}

export interface ConnectionOptions {
  /** MQTT keepalive, asked at each connect: the link profile in force may change it. */
  keepaliveS?: number | (() => number);
  /** Plain TCP to a manager started with --insecure. */
  insecure?: boolean;
  /** Connect proofs, certificate checks, retries and the pace of leader moves; tests give a fake one. */
  clock?: Clock;
  /** In [0, 1): jitter of reconnect delays, so a rack of boards does not retry in step. */
  random?: () => number;
  /** MQTT client id (default: the node id); the agent beside a manager uses `<id>.agent`. */
  clientId?: string;
  /** Fault orders in force: outgoing messages dropped, delayed or doubled; the link held cut. */
  faults?: LinkFaults;
}

export class ManagerConnection {
  private client: MqttClient | undefined;
  /** A connection to the leader, opened while the current one stays up until it is ready. */
  private candidate: { client: MqttClient; address: string } | undefined;
  private attempt = 0;
  private closed = false;
  private retryTimer: TimerHandle | undefined;
  private switchTimer: TimerHandle | undefined;
  connectedTo: string | null = null;
  /** The configured addresses, then every manager leader info named: failover tries them all. */
  private known: string[];
  /** Tried first on the next reconnect: where a move to the leader was cut short. */
  private preferred: string | null = null;
  /** The connected manager's leader info; each connection starts without one. */
  private leaderInfo: LeaderInfo | null = null;
  private readonly follower = new LeaderFollower();
  private readonly keepaliveS: () => number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    private identity: Identity,
    managers: string[],
    private readonly events: ConnectionEvents,
    private readonly logger: Logger,
    private readonly opts: ConnectionOptions = {},
  ) {
    if (managers.length === 0) throw new Error('no manager addresses');
    this.known = mergeAddresses([], managers);
    const k = opts.keepaliveS ?? 5;
    this.keepaliveS = typeof k === 'number' ? () => k : k;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.now = () => this.clock.now();
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

  /** Every manager address this agent knows of, in the order failover tries them. */
  get managers(): readonly string[] {
    return this.known;
  }

  /** The MQTT client id this agent connects with. */
  get clientId(): string {
    return this.opts.clientId ?? this.identity.id;
  }

  /** Publishes when connected; returns false when the message could not be handed to the broker. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): boolean {
    const c = this.client;
    if (!c || !this.connectedTo) return false;
    const send = (): void => {
      c.publish(topic, payload, { qos }, (err) => {
        if (err) this.logger.debug('publish failed', { topic, error: err.message });
      });
    };
    if (this.opts.faults) this.opts.faults.outgoing(topic, send);
    else send();
    return true;
  }

  /** Drops the link without a goodbye, as a pulled cable would (the broker sends the will). */
  dropLink(): void {
    for (const c of [this.client, this.candidate?.client]) c?.stream?.destroy();
  }

  /** Subscribes to the assignment again: MQTT 3.1.1 has the broker send its retained full set. */
  resubscribeAssignments(): void {
    this.client?.subscribe(topics.assignments(this.identity.id), { qos: 1 }, (err) => {
      if (err) this.logger.warn('could not ask for the full assignment', { error: err.message });
    });
  }

  /**
   * MQTT fixes the keepalive at connect: when the one asked for now differs from the live
   * connection's, the agent says goodbye (no will) and connects again with it, once.
   */
  adjustKeepalive(): void {
    const c = this.client;
    const want = this.keepaliveS();
    if (!c || !this.connectedTo || this.closed || c.options.keepalive === want) return;
    this.logger.info('reconnecting with the keepalive the manager asks for', {
      from: c.options.keepalive,
      to: want,
    });
    c.end(false);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    if (this.switchTimer) this.clock.clearTimeout(this.switchTimer);
    const clients = [this.client, this.candidate?.client];
    this.client = undefined;
    this.candidate = undefined;
    await Promise.all(clients.flatMap((c) => (c ? [c.endAsync(true).catch(() => undefined)] : [])));
  }

  private connectNext(): void {
    if (this.closed) return;
    if (this.opts.faults?.cut) {
      this.retryTimer = this.clock.setTimeout(() => this.connectNext(), 500);
      return;
    }
    const address =
      this.preferred ?? this.known[this.attempt % this.known.length] ?? this.known[0] ?? '';
    this.preferred = null;
    this.attempt++;
    this.client = this.dial(address);
  }

  /** Opens a connection; whether it becomes the current one is decided when it connects. */
  private dial(address: string): MqttClient {
    const nodeId = this.identity.id;
    const transport = {
      insecure: this.opts.insecure === true,
      pin: { rootPub: this.identity.rootPub },
      now: this.now,
    };
    const clientId = this.opts.clientId ?? nodeId;
    const client = connectMqtt(address, transport, {
      protocolVersion: 4,
      clientId,
      username: nodeId,
      password: makeConnectProof(this.identity, clientId, this.now()),
      clean: true,
      keepalive: this.keepaliveS(),
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      queueQoSZero: false,
      will: { topic: topics.will(nodeId), payload: Buffer.from('{}'), qos: 0, retain: false },
    });
    let failure = 'connection closed';
    client.on('connect', () => this.onConnect(client, address));
    client.on('message', (topic, payload) => {
      if (this.client === client) this.onMessage(topic, payload);
    });
    client.on('error', (err) => {
      failure = this.describeFailure(err, address);
    });
    client.on('close', () => this.onClose(client, address, failure));
    return client;
  }

  private onConnect(client: MqttClient, address: string): void {
    if (this.candidate?.client === client && !this.promote(client, address)) return;
    if (this.client !== client) return;
    const nodeId = this.identity.id;
    this.attempt = 0;
    this.connectedTo = address;
    this.leaderInfo = null;
    client.subscribe([topics.assignments(nodeId), topics.renewReply(nodeId)], { qos: 1 }, (err) => {
      if (err) this.logger.warn('could not subscribe to assignments', { error: err.message });
    });
    // Apart, so a manager that predates deltas and refuses the topic still sends full sets.
    if (this.events.onAssignmentDelta) {
      client.subscribe(assignmentDeltaTopic(nodeId), { qos: 1 }, (err) => {
        if (err)
          this.logger.debug('no assignment deltas from this manager', { error: err.message });
      });
    }
    // Apart, so a manager that predates the leader topic and refuses it still sends assignments.
    client.subscribe(topics.leader(), { qos: 1 }, (err) => {
      if (err) this.logger.debug('no leader info from this manager', { error: err.message });
    });
    // Apart too: a manager that predates notices refuses the subscription and nothing else.
    client.subscribe(topics.notice(nodeId), { qos: 1 }, (err) => {
      if (err) this.logger.debug('no notices from this manager', { error: err.message });
    });
    client.subscribe(topics.ingressTable(), { qos: 1 }, (err) => {
      if (err) this.logger.debug('no ingress table from this manager', { error: err.message });
    });
    client.subscribe(topics.discoveryTable(), { qos: 1 }, (err) => {
      if (err) this.logger.debug('no discovery table from this manager', { error: err.message });
    });
    if (this.events.onLogControl) {
      client.subscribe(logTopics.control(nodeId), { qos: 1 }, (err) => {
        if (err) this.logger.debug('no log streams from this manager', { error: err.message });
      });
    }
    if (this.events.onBlobResponse) {
      client.subscribe(blobTopics.response(this.clientId), { qos: 1 }, (err) => {
        if (err) this.logger.debug('no image store on this manager', { error: err.message });
      });
    }
    if (this.events.onChaosOrder) {
      client.subscribe(chaosTopics.order(nodeId), { qos: 1 }, (err) => {
        if (err) this.logger.debug('no fault orders from this manager', { error: err.message });
      });
    }
    this.logger.info('connected to manager', { address });
    this.events.onConnected(address);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const nodeId = this.identity.id;
    if (topic === topics.assignments(nodeId)) this.events.onAssignment(payload);
    else if (topic === assignmentDeltaTopic(nodeId)) this.events.onAssignmentDelta?.(payload);
    else if (topic === topics.renewReply(nodeId)) this.events.onRenewReply?.(payload);
    else if (topic === topics.notice(nodeId)) this.onNotice(payload);
    else if (topic === topics.leader()) this.onLeaderInfo(payload);
    else if (topic === topics.ingressTable()) this.events.onIngressTable?.(payload);
    else if (topic === topics.discoveryTable()) this.events.onDiscoveryTable?.(payload);
    else if (topic === blobTopics.response(this.clientId)) this.events.onBlobResponse?.(payload);
    else if (topic === logTopics.control(nodeId)) this.events.onLogControl?.(payload);
    else if (topic === chaosTopics.order(nodeId)) this.events.onChaosOrder?.(payload);
  }

  private onClose(client: MqttClient, address: string, failure: string): void {
    if (this.candidate?.client === client) {
      this.candidate = undefined;
      discard(client);
      this.follower.failed();
      this.logger.warn('could not reach the leader; staying with this manager for now', {
        leader: address,
        reason: failure,
      });
      return this.considerSwitch();
    }
    if (this.client !== client) return;
    discard(client);
    this.abandonSwitch();
    const was = this.connectedTo;
    this.connectedTo = null;
    this.leaderInfo = null;
    if (was) {
      this.logger.warn('lost the manager connection', { address: was, reason: failure });
      this.events.onDisconnected(failure);
    } else {
      this.logger.debug('manager unreachable', { address, reason: failure });
    }
    const delay =
      Math.min(500 * 2 ** Math.min(this.attempt, 4), 4_000) * (0.75 + this.random() * 0.25);
    this.retryTimer = this.clock.setTimeout(() => this.connectNext(), this.closed ? 0 : delay);
  }

  /** The manager refuses this agent (its protocol is too old or too new): say why, loudly. */
  private onNotice(payload: Buffer): void {
    const d = decode(noticeSchema, payload);
    if (!d.ok) return this.logger.debug('dropped notice', { reason: d.reason });
    this.logger.error(`the manager refuses this agent: ${d.value.message}`, {
      code: d.value.code,
      manager: this.connectedTo,
    });
  }

  private onLeaderInfo(payload: Buffer): void {
    const d = decode(leaderInfoSchema, payload);
    if (!d.ok) return this.logger.debug('dropped leader info', { reason: d.reason });
    this.leaderInfo = d.value;
    this.known = mergeAddresses(this.known, addressesOf(d.value));
    this.considerSwitch();
    this.events.onLeaderInfo?.(d.value);
  }

  /** Starts a move when the connected manager names another leader, paced against flapping. */
  private considerSwitch(): void {
    if (this.closed || this.candidate || this.switchTimer) return;
    const target = this.follower.target(this.leaderInfo, this.connectedTo);
    if (!target) return;
    const wait = this.follower.delay(this.now());
    if (wait > 0) {
      this.switchTimer = this.clock.setTimeout(() => {
        this.switchTimer = undefined;
        this.considerSwitch();
      }, wait);
      return;
    }
    this.follower.started(this.now());
    this.logger.info('moving to the leader', { from: this.connectedTo, to: target });
    this.candidate = { client: this.dial(target), address: target };
  }

  /**
   * Makes the candidate the current connection and closes the old one; false (and the candidate
   * closed) when the leader changed again meanwhile and it is no longer where to go.
   */
  private promote(client: MqttClient, address: string): boolean {
    this.candidate = undefined;
    const target = this.follower.target(this.leaderInfo, this.connectedTo);
    if (target === null || !sameAddress(target, address)) {
      retire(client, this.clock);
      this.considerSwitch();
      return false;
    }
    const old = this.client;
    this.client = client;
    this.follower.succeeded();
    if (old) retire(old, this.clock);
    this.logger.info('moved to the leader', { from: this.connectedTo, to: address });
    return true;
  }

  /** The current connection is gone: a move in progress becomes the first place to reconnect. */
  private abandonSwitch(): void {
    if (this.switchTimer) this.clock.clearTimeout(this.switchTimer);
    this.switchTimer = undefined;
    const c = this.candidate;
    if (!c) return;
    this.candidate = undefined;
    this.preferred = c.address;
    discard(c.client);
  }

  private describeFailure(err: Error, address: string): string {
    const refused = /not authorized|bad user/i.test(err.message);
    const expired = this.certificateExpiredAt();
    if (expired !== null && refused) {
      this.logger.error('certificate expired', { address, expiredAt: expired });
      return `certificate expired at ${new Date(expired).toISOString()}; the manager refuses it: remove this node's data dir and join again`;
    }
    return refused
      ? `the manager at ${address} refused this node (${err.message}); was it removed?`
      : err.message;
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
