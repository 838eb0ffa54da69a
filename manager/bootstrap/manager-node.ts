// A manager process as a member of the cluster: its node identity (for its peers) and its node record.
import path from 'node:path';
import { platformArch } from '../../shared/arch.js';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import {
  generateNodeKeys,
  identitySchema,
  issueCertificate,
  randomId,
  type Identity,
} from '../../shared/identity.js';
import type { NodeRecord } from '../../shared/spec.js';
import type { ClusterRecord } from '../store/commands.js';

/** This board's architecture by Docker's names, as the agents report theirs. */
export const boardArch = (): string => platformArch(process.arch);

/** A manager's node name unless --name says otherwise: unique per listening address. */
export const defaultManagerName = (host: string): string => `manager-${host}`;

export const MANAGER_IDENTITY_FILE = 'manager-identity.json';
/**
 * Managers hold the root key and could sign any certificate they like, so theirs are long-lived
 * like the admin's: renewing them would add moving parts and no protection.
 */
export const MANAGER_CERT_LIFETIME_MS = 10 * 365 * 24 * 3600_000;

export async function loadManagerIdentity(dataDir: string): Promise<Identity | undefined> {
  const raw = await readJsonFile(path.join(dataDir, MANAGER_IDENTITY_FILE));
  if (raw === undefined) return undefined;
  const r = identitySchema.safeParse(raw);
  if (!r.success) throw new Error(`${path.join(dataDir, MANAGER_IDENTITY_FILE)} is damaged`);
  return r.data;
}

export async function saveManagerIdentity(dataDir: string, identity: Identity): Promise<void> {
  const file = path.join(dataDir, MANAGER_IDENTITY_FILE);
  await writeFileAtomic(file, JSON.stringify(identity, null, 2) + '\n', 0o600);
}

/** A certificate for this manager under the cluster's root key: new keys unless given. */
export function issueManagerIdentity(
  id: string,
  cluster: ClusterRecord,
  now: number,
  keys = generateNodeKeys(),
): Identity {
  const cert = issueCertificate(
    {
      id,
      role: 'manager',
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      issuedAt: now,
      expiresAt: now + MANAGER_CERT_LIFETIME_MS,
      serial: randomId(),
    },
    { publicKey: cluster.rootPub, secretKey: cluster.rootSecret },
  );
  return { v: 1, id, role: 'manager', keys, cert, rootPub: cluster.rootPub, managers: [] };
}

export function certSerial(identity: Identity): string {
  const body = JSON.parse(identity.cert.body) as { serial: string };
  return body.serial;
}

/**
 * The record `node ls` shows for a manager process. A pure manager never receives tasks; with
 * a worker beside it, its agent's reports fill in resources, runtime and health like any node's.
 */
export function managerNodeRecord(
  identity: Identity,
  name: string,
  host: string,
  address: string,
  now: number,
  prev?: NodeRecord,
  worker = false,
): NodeRecord {
  const wasWorker = prev?.manager?.worker === true;
  const agentFacts: Pick<NodeRecord, 'status' | 'statusMessage' | 'availability'> =
    worker && prev && wasWorker
      ? { status: prev.status, statusMessage: prev.statusMessage, availability: prev.availability }
      : { status: 'ready', statusMessage: '', availability: worker ? 'active' : 'drain' };
  return {
    id: identity.id,
    name: prev?.name ?? name,
    role: prev?.role ?? 'manager',
    ...agentFacts,
    address: host,
    arch: worker && prev ? prev.arch : boardArch(),
    os: worker && prev ? prev.os : process.platform,
    labels: prev?.labels ?? {},
    resources: worker && prev ? prev.resources : { cpus: 0, memoryBytes: 0 },
    runtime: worker && prev ? prev.runtime : 'process',
    signPub: identity.keys.sign.publicKey,
    boxPub: identity.keys.box.publicKey,
    certSerial: certSerial(identity),
    ...(prev && prev.certSerial !== certSerial(identity)
      ? { prevCertSerial: prev.certSerial }
      : {}),
    agentVersion: worker && prev ? prev.agentVersion : '',
    manager: worker ? { address, worker: true } : { address },
    createdAt: prev?.createdAt ?? now,
    updatedAt: now,
    ...(prev?.version !== undefined ? { version: prev.version } : {}),
  };
}
