// Joining: a new board proves it holds the token and its key, and gets a node certificate.
import type { Clock } from '../../shared/clock.js';
import { fingerprint, issueCertificate, randomId, verifyText } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import { sealTo, unseal } from '../../shared/sealing.js';
import {
  PREFIX,
  decode,
  encode,
  joinRequestSchema,
  topics,
  type JoinReply,
  type JoinRequest,
} from '../../shared/protocol.js';
import type { NodeRecord } from '../../shared/spec.js';
import type { Broker } from '../broker/broker.js';
import type { Propose } from '../leader/controller.js';
import { MANAGER_CERT_LIFETIME_MS } from '../bootstrap/manager-node.js';
import type { ClusterRecord, MemberRecord } from '../store/commands.js';
import type { Store } from '../store/store.js';

/** What a handler that issues node certificates (join, renewal) works with. */
export interface CertIssuerDeps {
  store: Store;
  propose: Propose;
  broker: Broker;
  logger: Logger;
  clock: Clock;
  certLifetimeMs: number;
}

/** What the join handler needs beyond issuing certificates, to let a manager process in. */
export interface ManagerJoinDeps {
  /** The key secrets are encrypted with; every manager holds the same one. */
  dataKey: Uint8Array;
  /** Adds the new manager to the Raft group (as a learner; it becomes a voter once caught up). */
  addManager(id: string, address: string): Promise<void>;
  /** Where the leader is, for a join sent to a follower. */
  leaderAddress(): string | null;
}

export function serveJoins(deps: CertIssuerDeps & ManagerJoinDeps): void {
  const { broker, logger } = deps;
  broker.onMessage(`${PREFIX}/join/`, (topic, payload, principal, clientId) => {
    if (!clientId || principal?.kind !== 'join' || topic !== topics.join(clientId)) return;
    const reply = (msg: JoinReply): void => {
      void broker.publish(topics.joinReply(clientId), encode(msg), { qos: 1 });
    };
    const d = decode(joinRequestSchema, payload);
    if (!d.ok) {
      logger.warn('dropped join request', { clientId, reason: d.reason });
      return reply({ v: 1, ok: false, error: `bad join request: ${d.reason}` });
    }
    const cluster = deps.store.cluster();
    if (!cluster) return;
    const checked = checkJoin(cluster, d.value, principal.role);
    if ('error' in checked) return reply({ v: 1, ok: false, error: checked.error });
    admit(deps, cluster, d.value, checked.role, reply);
  });
}

/** The role the request's token grants, or why the request is refused. */
function checkJoin(
  cluster: ClusterRecord,
  req: JoinRequest,
  tokenRole: 'worker' | 'manager',
): { role: 'worker' | 'manager' } | { error: string } {
  // The token decides the role: a worker token never makes a manager.
  const role =
    req.token === cluster.managerToken
      ? 'manager'
      : req.token === cluster.workerToken
        ? 'worker'
        : null;
  if (!role || role !== tokenRole) return { error: 'invalid join token' };
  if (!req.token.includes(fingerprint(cluster.rootPub))) {
    return { error: 'join token is for another cluster' };
  }
  if (!verifyText(req.token, req.sig, req.signPub)) {
    return { error: 'join request signature does not match its key' };
  }
  return { role };
}

/** Issues the certificate, records the node (and adds a manager to the group), then replies. */
function admit(
  deps: CertIssuerDeps & ManagerJoinDeps,
  cluster: ClusterRecord,
  req: JoinRequest,
  role: 'worker' | 'manager',
  reply: (msg: JoinReply) => void,
): void {
  const { store, logger, clock, certLifetimeMs } = deps;
  const now = clock.now();
  const id = randomId();
  const managerAddress = role === 'manager' ? req.manager?.address : undefined;
  // A manager process holds the root key and could mint its own: a short lifetime adds nothing.
  const lifetime = managerAddress ? MANAGER_CERT_LIFETIME_MS : certLifetimeMs;
  const serial = randomId();
  const cert = issueCertificate(
    {
      id,
      role,
      signPub: req.signPub,
      boxPub: req.boxPub,
      issuedAt: now,
      expiresAt: now + lifetime,
      serial,
    },
    { publicKey: cluster.rootPub, secretKey: cluster.rootSecret },
  );
  const node = joinedNode(req, { id, role, serial, now, managerAddress });
  const leader = deps.leaderAddress();
  if (leader === null) return reply({ v: 1, ok: false, error: 'no leader yet; try again' });
  if (leader !== 'self')
    return reply({
      v: 1,
      ok: false,
      error: `this manager does not lead; join via ${leader}`,
      leader,
    });
  deps
    .propose({ commands: [{ type: 'node.put', node }] })
    .then(async () => {
      if (managerAddress) await deps.addManager(id, managerAddress);
      logger.info('node joined', { nodeId: id, name: req.name, role, address: req.address });
      const bundle = managerAddress
        ? sealBundle(cluster, deps.dataKey, store.members(), req.boxPub)
        : undefined;
      reply({
        v: 1,
        ok: true,
        nodeId: id,
        role,
        cert,
        rootPub: cluster.rootPub,
        ...(bundle ? { managerBundle: bundle } : {}),
      });
    })
    .catch((e: unknown) => {
      logger.error('could not record joining node', { error: String(e) });
      reply({ v: 1, ok: false, error: 'the manager could not record the node; try again' });
    });
}

/** The record of a node that has just joined; a manager process's record runs no tasks. */
function joinedNode(
  req: JoinRequest,
  n: {
    id: string;
    role: 'worker' | 'manager';
    serial: string;
    now: number;
    managerAddress: string | undefined;
  },
): NodeRecord {
  const { id, role, serial, now, managerAddress } = n;
  return {
    id,
    name: req.name,
    role,
    status: managerAddress ? 'ready' : 'unknown',
    statusMessage: managerAddress ? '' : 'joined, waiting for first heartbeat',
    // A manager process runs no tasks: nothing is ever scheduled on its record.
    availability: managerAddress ? 'drain' : 'active',
    address: req.address,
    arch: req.platform.arch,
    os: req.platform.os,
    labels: req.labels,
    resources: { cpus: 0, memoryBytes: 0 },
    runtime: 'docker',
    signPub: req.signPub,
    boxPub: req.boxPub,
    certSerial: serial,
    agentVersion: '',
    ...(managerAddress ? { manager: { address: managerAddress } } : {}),
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * The keys a manager needs before the Raft snapshot reaches it: the cluster record (root key,
 * for its TLS listener and to authenticate its peers) and the data key (secrets). Sealed to the
 * joining node's box key, so only that process can open it even on a plain-TCP development setup.
 */
function sealBundle(
  cluster: ClusterRecord,
  dataKey: Uint8Array,
  members: MemberRecord[],
  boxPub: string,
): string {
  const key = Buffer.from(dataKey).toString('base64');
  const text = JSON.stringify({ cluster, dataKey: key, members });
  return sealTo(boxPub, new TextEncoder().encode(text));
}

export interface ManagerBundle {
  cluster: ClusterRecord;
  dataKey: Uint8Array;
  /** The managers at the time of the join: whom to answer until the snapshot arrives. */
  members: MemberRecord[];
}

export function openBundle(sealed: string, boxSecret: string): ManagerBundle {
  const bytes = unseal(sealed, boxSecret);
  if (!bytes) throw new Error('the manager bundle in the join reply could not be opened');
  const raw = JSON.parse(new TextDecoder().decode(bytes)) as {
    cluster: ClusterRecord;
    dataKey: string;
    members?: MemberRecord[];
  };
  return {
    cluster: raw.cluster,
    dataKey: new Uint8Array(Buffer.from(raw.dataKey, 'base64')),
    members: raw.members ?? [],
  };
}
