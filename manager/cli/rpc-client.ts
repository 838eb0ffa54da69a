// The CLI's connection to the managers: one MQTT session, requests out, replies matched by id.
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { WRITE_METHODS, type Method, type Params, type Results } from '../../shared/api.js';
import { FleetError, type ErrorCode } from '../../shared/errors.js';
import { makeConnectProof, randomId, type Identity } from '../../shared/identity.js';
import { RPC_ANY, decode, encode, rpcResponseSchema, topics } from '../../shared/protocol.js';
import { UNTRUSTED_MANAGER, connectMqtt, insecureRequested } from '../../shared/transport.js';

export interface RpcClient {
  /** The HOST:PORT that accepted the connection. */
  readonly host: string;
  call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  hosts: string[];
  identity: Identity;
  /** Bounds the connection attempt to each host and the wait for each reply. */
  timeoutMs?: number;
  /** Plain TCP to a manager started with --insecure (also FLEET_INSECURE=1). */
  insecure?: boolean;
}

const DEFAULT_TIMEOUT_MS = 5000;

export async function connectClient(opts: ConnectOptions): Promise<RpcClient> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  for (const host of opts.hosts) {
    const clientId = `${opts.identity.id}.${randomBytes(4).toString('hex')}`;
    const mq = await tryConnect(host, clientId, opts.identity, timeoutMs, opts.insecure);
    if (mq) return await openSession(mq, host, clientId, timeoutMs);
  }
  throw new FleetError(
    'unavailable',
    `no manager answered at ${opts.hosts.join(', ')} within ${seconds(timeoutMs)}`,
  );
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))}s`;

/** The CONNACK codes for refused credentials in MQTT 3.1.1 (4, 5) and 5.0 (134, 135). */
const AUTH_REFUSED = new Set([4, 5, 134, 135]);

/** Resolves with a connected client, or null when this host is unreachable; throws when refused. */
function tryConnect(
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
  resolve(result: unknown): void;
  reject(err: Error): void;
}

/** One open connection and the calls waiting for their replies. */
interface Session {
  mq: MqttClient;
  host: string;
  timeoutMs: number;
  pending: Map<string, Pending>;
}

async function openSession(
  mq: MqttClient,
  host: string,
  clientId: string,
  timeoutMs: number,
): Promise<RpcClient> {
  const session: Session = { mq, host, timeoutMs, pending: new Map() };
  mq.on('message', (_topic, payload) => settleReply(session.pending, payload));
  mq.on('close', () => failAll(session, lost(host)));
  const granted = await mq.subscribeAsync(topics.rpcReply(clientId), { qos: 1 }).catch(() => {
    mq.end(true);
    throw lost(host);
  });
  if (granted.some((g) => g.qos === 128)) {
    await mq.endAsync();
    throw new FleetError('not_authorized', 'not authorized: the manager refused this identity');
  }
  return {
    host,
    call: (method, params) => call(session, method, params),
    close: async () => {
      failAll(session, new FleetError('unavailable', 'the connection was closed'));
      // Nothing left is worth flushing, and after a lost connection a graceful end would wait
      // forever for acknowledgements of requests still in flight.
      await mq.endAsync(true);
    },
  };
}

const lost = (host: string): FleetError =>
  new FleetError('unavailable', `lost the connection to the manager at ${host}`);

function failAll(session: Session, err: FleetError): void {
  for (const p of session.pending.values()) p.reject(err);
  session.pending.clear();
}

/**
 * Replies come from the manager, not from an untrusted board, and list every node or task:
 * `node ls` on 2,000 boards is about 1 MB, far past the cap on what a manager reads.
 */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

function settleReply(pending: Map<string, Pending>, payload: Buffer): void {
  const r = decode(rpcResponseSchema, payload, MAX_REPLY_BYTES);
  if (!r.ok) return; // not a reply this client can read; the matching call times out instead
  const p = pending.get(r.value.id);
  if (!p) return; // a duplicate, or a reply to a call that already gave up
  pending.delete(r.value.id);
  if (r.value.ok) p.resolve(r.value.result);
  else p.reject(new FleetError(errorCode(r.value.error.code), r.value.error.message));
}

const KNOWN_CODES: readonly ErrorCode[] = [
  'not_found',
  'already_exists',
  'invalid_argument',
  'not_authorized',
  'unavailable',
  'conflict',
  'internal',
];

const errorCode = (code: string): ErrorCode => KNOWN_CODES.find((c) => c === code) ?? 'internal';

/**
 * Publishes the request, and once more halfway through the wait with the same id and
 * idempotency key: a manager that took over leadership answers it, and a write is applied once.
 */
function call<M extends Method>(s: Session, method: M, params: Params<M>): Promise<Results[M]> {
  if (!s.mq.connected) return Promise.reject(lost(s.host));
  const id = randomId();
  const idempotencyKey = WRITE_METHODS.has(method) ? randomId() : undefined;
  const request = encode({ v: 1, id, method, params, idempotencyKey });
  const publish = (): void => {
    s.mq.publishAsync(topics.rpc(RPC_ANY), request, { qos: 1 }).catch(() => undefined);
  };
  return new Promise<Results[M]>((resolve, reject) => {
    const retry = setTimeout(publish, s.timeoutMs / 2);
    const timer = setTimeout(() => {
      s.pending.delete(id);
      const within = seconds(s.timeoutMs);
      reject(
        new FleetError('unavailable', `no reply to ${method} from ${s.host} within ${within}`),
      );
    }, s.timeoutMs);
    const done = (): void => {
      clearTimeout(retry);
      clearTimeout(timer);
    };
    s.pending.set(id, {
      resolve: (result) => {
        done();
        // The manager answers with Results[method]: that is the contract in shared/api.ts.
        resolve(result as Results[M]);
      },
      reject: (err) => {
        done();
        reject(err);
      },
    });
    publish();
  });
}
