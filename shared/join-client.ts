// The join client, for agents and joining managers alike: join with a token, pin the cluster's root key, get an identity.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  fingerprint,
  generateNodeKeys,
  parseJoinToken,
  signText,
  type Identity,
} from './identity.js';
import { decode, encode, joinReplySchema, topics, type JoinRequest } from './protocol.js';
import { UNTRUSTED_MANAGER, connectMqttAsync } from './transport.js';
import { systemClock, type Clock } from './clock.js';

export class JoinError extends Error {
  override readonly name = 'JoinError';

  /** Set when a follower refused and named the leader to ask instead. */
  constructor(
    message: string,
    readonly leader?: string,
  ) {
    super(message);
  }
}

export interface JoinOptions {
  managers: string[];
  token: string;
  name: string;
  address: string;
  platform: { os: string; arch: string };
  labels: Record<string, string>;
  timeoutMs?: number;
  /** Plain TCP to a manager started with --insecure: nothing checks who answers. */
  insecure?: boolean;
  /** A manager process joining: where its own broker listens. */
  managerAddress?: string;
  /** Times the wait for the join reply; the system clock by default. */
  clock?: Clock;
}

export interface Joined {
  identity: Identity;
  /** For a joining manager: the cluster's keys, sealed to the new box key. */
  managerBundle?: string;
}

export async function joinCluster(opts: JoinOptions): Promise<Identity> {
  return (await joinWithReply(opts)).identity;
}

/** Joins and returns the whole answer (a joining manager needs its bundle too). */
export async function joinWithReply(opts: JoinOptions): Promise<Joined> {
  const parsed = parseJoinToken(opts.token);
  if (!parsed)
    throw new JoinError('the join token is malformed: expected FLEET-1-<fingerprint>-<secret>');
  const keys = generateNodeKeys();
  let lastError = 'no manager address given';
  const addresses = [...opts.managers];
  for (let i = 0; i < addresses.length && i < 8; i++) {
    const address = addresses[i] ?? '';
    try {
      return await joinVia(address, opts, keys, parsed.fingerprint);
    } catch (e) {
      // A follower names the leader: ask it next (the token and keys stay the same).
      const leader = e instanceof JoinError ? e.leader : undefined;
      if (leader) {
        if (!addresses.includes(leader)) addresses.splice(i + 1, 0, leader);
        lastError = e instanceof Error ? e.message : String(e);
        continue;
      }
      lastError = e instanceof Error ? e.message : String(e);
      if (e instanceof JoinError) throw e;
    }
  }
  throw new JoinError(`could not join: ${lastError}`);
}

async function joinVia(
  address: string,
  opts: JoinOptions,
  keys: Identity['keys'],
  pinned: string,
): Promise<Joined> {
  const clientId = `join-${randomBytes(6).toString('hex')}`;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let client;
  try {
    // The token's fingerprint pins the manager's certificate before the token is sent.
    const transport = { insecure: opts.insecure === true, pin: { fingerprint: pinned } };
    client = await connectMqttAsync(address, transport, {
      protocolVersion: 4,
      clientId,
      username: 'join',
      password: opts.token,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if ((e as { code?: unknown }).code === UNTRUSTED_MANAGER) throw new JoinError(msg);
    if (/not authorized|bad user/i.test(msg))
      throw new JoinError('join refused: invalid or rotated join token');
    throw new Error(`no manager answered at ${address}: ${msg}`);
  }
  try {
    const clock = opts.clock ?? systemClock;
    const reply = new Promise<Buffer>((resolve, reject) => {
      const timer = clock.setTimeout(
        () => reject(new Error(`no join reply from ${address} within ${timeoutMs / 1000}s`)),
        timeoutMs,
      );
      client.on('message', (_t, payload) => {
        clock.clearTimeout(timer);
        resolve(payload);
      });
    });
    await client.subscribeAsync(topics.joinReply(clientId), { qos: 1 });
    const req: JoinRequest = {
      v: 1,
      token: opts.token,
      name: opts.name || os.hostname(),
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      address: opts.address,
      platform: opts.platform,
      labels: opts.labels,
      sig: signText(opts.token, keys.sign.secretKey),
      ...(opts.managerAddress ? { manager: { address: opts.managerAddress } } : {}),
    };
    await client.publishAsync(topics.join(clientId), encode(req), { qos: 1 });
    const d = decode(joinReplySchema, await reply);
    if (!d.ok) throw new Error(`unreadable join reply: ${d.reason}`);
    if (!d.value.ok) throw new JoinError(`join refused: ${d.value.error}`, d.value.leader);
    if (fingerprint(d.value.rootPub) !== pinned) {
      throw new JoinError(
        'the manager is not the cluster this token belongs to (root key fingerprint mismatch)',
      );
    }
    const identity: Identity = {
      v: 1,
      id: d.value.nodeId,
      role: d.value.role,
      keys,
      cert: d.value.cert,
      rootPub: d.value.rootPub,
      managers: opts.managers,
    };
    const bundle = d.value.managerBundle;
    return { identity, ...(bundle ? { managerBundle: bundle } : {}) };
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}
