// One MQTT session to one manager: connect, send a request, match its reply, learn leader info.
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { FleetError, type ErrorCode } from '../../shared/errors.js';
import { makeConnectProof, type Identity } from '../../shared/identity.js';
import {
  RPC_ANY,
  decode,
  encode,
  leaderInfoSchema,
  rpcResponseSchema,
  topics,
  type RpcRequest,
  type RpcResponse,
} from '../../shared/protocol.js';
import { UNTRUSTED_MANAGER, connectMqtt, insecureRequested } from '../../shared/transport.js';
import { ManagerError, type HostBook } from './failover.js';

export type OkResponse = Extract<RpcResponse, { ok: true }>;

export const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))}s`;

/** What opening a session needs to know of the client. */
export interface SessionOptions {
  identity: Identity;
  insecure?: boolean;
}

/** The CONNACK codes for refused credentials in MQTT 3.1.1 (4, 5) and 5.0 (134, 135). */
const AUTH_REFUSED = new Set([4, 5, 134, 135]);

/** Resolves with a connected client, or null when this host is unreachable; throws when refused. */
export function tryConnect(
  host: string,
  clientId: string,
  identity: Identity,
  timeoutMs: number,
  insecure: boolean | undefined,
): Promise<MqttClient | null> {
  const transport = { insecure: insecureRequested(insecure), pin: { rootPub: identity.rootPub } };
  const mq = connectMqtt(host, transport, {
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    clientId,
    username: identity.id,
    password: makeConnectProof(identity, clientId),
  });
  // Errors after the outcome is settled (a refused socket also closes) must not go unhandled.
  mq.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(null), timeoutMs);
    const settle = (): void => {
      clearTimeout(timer);
      mq.removeListener('connect', onConnect);
      mq.removeListener('error', onError);
      mq.removeListener('close', onClose);
    };
    const fail = (err: FleetError | null): void => {
      settle();
      mq.end(true);
      if (err) reject(err);
      else resolve(null);
    };
    const onConnect = (): void => {
      settle();
      resolve(mq);
    };
    const onError = (e: Error & { code?: unknown }): void =>
      fail(
        typeof e.code === 'number' && AUTH_REFUSED.has(e.code)
          ? new FleetError('not_authorized', 'not authorized: the manager refused this identity')
          : e.code === UNTRUSTED_MANAGER
            ? new FleetError('not_authorized', e.message)
            : null,
      );
    const onClose = (): void => fail(null);
    mq.on('connect', onConnect);
    mq.on('error', onError);
    mq.on('close', onClose);
  });
}

interface Pending {
  resolve(res: OkResponse): void;
  reject(err: Error): void;
}

/** One open connection and the calls waiting for their replies. */
export interface Session {
  mq: MqttClient;
  host: string;
  pending: Map<string, Pending>;
  /** Set once the session is replaced: runs when its last waiting call settled. */
  onIdle?: () => void;
}

/** Connects to `host` and subscribes to replies and leader info; null when it is unreachable. */
export async function openSession(
  host: string,
  opts: SessionOptions,
  timeoutMs: number,
  book: HostBook,
): Promise<Session | null> {
  const clientId = `${opts.identity.id}.${randomBytes(4).toString('hex')}`;
  const mq = await tryConnect(host, clientId, opts.identity, timeoutMs, opts.insecure);
  if (!mq) return null;
  const session: Session = { mq, host, pending: new Map() };
  mq.on('message', (topic, payload) => {
    if (topic === topics.leader()) learnLeader(book, host, payload);
    else settleReply(session, payload);
  });
  mq.on('close', () => failAll(session, lost(host)));
  const granted = await mq.subscribeAsync(topics.rpcReply(clientId), { qos: 1 }).catch(() => {
    mq.end(true);
    throw lost(host);
  });
  if (granted.some((g) => g.qos === 128)) {
    await mq.endAsync();
    throw new FleetError('not_authorized', 'not authorized: the manager refused this identity');
  }
  // Where the other managers are, for failover; a manager without a leader topic refuses it.
  mq.subscribe(topics.leader(), { qos: 1 }, () => undefined);
  return session;
}

function learnLeader(book: HostBook, host: string, payload: Buffer): void {
  const d = decode(leaderInfoSchema, payload);
  if (d.ok) book.learn(d.value, host);
}

export async function closeSession(s: Session, why: string): Promise<void> {
  failAll(s, new FleetError('unavailable', why));
  // Nothing left is worth flushing, and after a lost connection a graceful end would wait
  // forever for acknowledgements of requests still in flight.
  await s.mq.endAsync(true);
}

export const lost = (host: string): FleetError =>
  new FleetError('unavailable', `lost the connection to the manager at ${host}`);

function failAll(session: Session, err: FleetError): void {
  const waiting = [...session.pending.values()];
  session.pending.clear();
  for (const p of waiting) p.reject(err);
}

/**
 * Replies come from the manager, not from an untrusted board, and list every node or task:
 * `node ls` on 2,000 boards is about 1 MB, far past the cap on what a manager reads.
 */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

function settleReply(session: Session, payload: Buffer): void {
  const r = decode(rpcResponseSchema, payload, MAX_REPLY_BYTES);
  if (!r.ok) return; // not a reply this client can read; the matching call times out instead
  const p = session.pending.get(r.value.id);
  if (!p) return; // a duplicate, or a reply to a call that already gave up
  session.pending.delete(r.value.id);
  if (r.value.ok) return p.resolve(r.value);
  const { code, message, leader } = r.value.error;
  p.reject(new ManagerError(errorCode(code), message, leader));
}

const KNOWN_CODES: readonly ErrorCode[] = [
  'not_found',
  'already_exists',
  'invalid_argument',
  'not_authorized',
  'unavailable',
  'conflict',
  'not_leader',
  'no_quorum',
  'internal',
];

const errorCode = (code: string): ErrorCode => KNOWN_CODES.find((c) => c === code) ?? 'internal';

/**
 * Publishes the request, and once more halfway through the wait with the same id and
 * idempotency key: a manager that took over leadership answers it, and a write is applied once.
 */
export function send(s: Session, request: RpcRequest, waitMs: number): Promise<OkResponse> {
  if (!s.mq.connected) return Promise.reject(lost(s.host));
  const payload = encode(request);
  const publish = (): void => {
    s.mq.publishAsync(topics.rpc(RPC_ANY), payload, { qos: 1 }).catch(() => undefined);
  };
  return new Promise<OkResponse>((resolve, reject) => {
    const retry = setTimeout(publish, waitMs / 2);
    const timer = setTimeout(() => {
      s.pending.delete(request.id);
      const within = seconds(waitMs);
      finish();
      reject(
        new FleetError(
          'unavailable',
          `no reply to ${request.method} from ${s.host} within ${within}`,
        ),
      );
    }, waitMs);
    const finish = (): void => {
      clearTimeout(retry);
      clearTimeout(timer);
      if (s.pending.size === 0) s.onIdle?.();
    };
    s.pending.set(request.id, {
      resolve: (res) => {
        finish();
        resolve(res);
      },
      reject: (err) => {
        finish();
        reject(err);
      },
    });
    publish();
  });
}
