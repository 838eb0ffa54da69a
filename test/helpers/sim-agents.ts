// Lightweight simulated agents for load tests: real joins, real identities, heartbeats over mqtt.js.
import type { MqttClient } from 'mqtt';
import { promises as fs } from 'node:fs';
import { joinCluster } from '../../shared/join-client.js';
import { identitySchema, makeConnectProof, type Identity } from '../../shared/identity.js';
import { encode, topics } from '../../shared/protocol.js';
import { connectMqttAsync, insecureRequested, type Transport } from '../../shared/transport.js';

/** The manager's TLS listener, checked against the identity's cluster root key, as agents do. */
const pinnedTo = (identity: Identity): Transport => ({
  insecure: insecureRequested(undefined),
  pin: { rootPub: identity.rootPub },
});

/** Joins `count` nodes through the real join protocol, a few at a time. */
export async function joinNodes(
  address: string,
  token: string,
  count: number,
  prefix: string,
  parallel = 20,
): Promise<Identity[]> {
  const out: Identity[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) =>
      joinCluster({
        managers: [address],
        token,
        name: `${prefix}-${i + j}`,
        address: '127.0.0.1',
        platform: { os: 'linux', arch: 'arm64' },
        labels: {},
        timeoutMs: 20_000,
      }),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** Connects with a node's identity the way the agent does (own id as client id, a will). */
export function connectNode(address: string, identity: Identity): Promise<MqttClient> {
  return connectMqttAsync(address, pinnedTo(identity), {
    protocolVersion: 4,
    clientId: identity.id,
    username: identity.id,
    password: makeConnectProof(identity, identity.id),
    clean: true,
    keepalive: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    queueQoSZero: false,
    will: { topic: topics.will(identity.id), payload: Buffer.from('{}'), qos: 0, retain: false },
  });
}

/** Connects with an admin identity under a client id of its own. */
export function connectAdmin(
  address: string,
  identity: Identity,
  suffix: string,
): Promise<MqttClient> {
  const clientId = `${identity.id}.${suffix}`;
  return connectMqttAsync(address, pinnedTo(identity), {
    protocolVersion: 4,
    clientId,
    username: identity.id,
    password: makeConnectProof(identity, clientId),
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
}

export async function readIdentity(file: string): Promise<Identity> {
  return identitySchema.parse(JSON.parse(await fs.readFile(file, 'utf8')));
}

export interface Heartbeater {
  /** Largest interval between two consecutive heartbeats one node handed to its socket. */
  maxGapMs(): number;
  sent(): number;
  stop(): Promise<void>;
}

/**
 * Connects every node and heartbeats each at `periodMs` (first beat at once, then spread over
 * the period so 200 nodes do not beat in lockstep). Throws if any node loses its connection.
 */
export async function heartbeatAll(
  address: string,
  nodes: Identity[],
  periodMs: number,
): Promise<Heartbeater> {
  const clients = await Promise.all(nodes.map((n) => connectNode(address, n)));
  const timers: NodeJS.Timeout[] = [];
  let maxGap = 0;
  let sent = 0;
  let stopped = false;
  clients.forEach((client, i) => {
    const node = nodes[i];
    if (!node) return;
    client.on('error', () => undefined);
    let seq = 0;
    let last = 0;
    const beat = (): void => {
      const now = Date.now();
      if (last > 0) maxGap = Math.max(maxGap, now - last);
      last = now;
      sent++;
      client.publish(topics.heartbeat(node.id), encode({ v: 1, seq: seq++, ts: now }), { qos: 0 });
    };
    beat();
    const offset = Math.floor((periodMs * i) / clients.length);
    timers.push(
      setTimeout(() => {
        if (stopped) return;
        beat();
        timers.push(setInterval(beat, periodMs));
      }, offset),
    );
  });
  return {
    maxGapMs: () => maxGap,
    sent: () => sent,
    stop: async () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    },
  };
}
