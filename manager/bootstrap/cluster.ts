// Creating a cluster on first start: root key, join tokens and the admin identity file.
import path from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import {
  generateNodeKeys,
  generateSigningKey,
  issueCertificate,
  makeJoinToken,
  randomId,
  type Identity,
} from '../../shared/identity.js';
import type { ClusterRecord } from '../store/commands.js';

export const DEFAULT_HEARTBEAT_MS = 2_000;
export const NODE_CERT_LIFETIME_MS = 90 * 24 * 3600_000;
const ADMIN_CERT_LIFETIME_MS = 10 * 365 * 24 * 3600_000;

export function newCluster(now: number, heartbeatMs = DEFAULT_HEARTBEAT_MS): ClusterRecord {
  const root = generateSigningKey();
  return {
    id: randomId(),
    rootPub: root.publicKey,
    rootSecret: root.secretKey,
    workerToken: makeJoinToken(root.publicKey),
    managerToken: makeJoinToken(root.publicKey),
    heartbeatMs,
    createdAt: now,
  };
}

/** Writes DIR/admin-identity.json, the CLI's credentials, signed by the cluster's root key. */
export async function writeAdminIdentity(
  dataDir: string,
  cluster: ClusterRecord,
  managerAddress: string,
  now: number,
): Promise<string> {
  const keys = generateNodeKeys();
  const id = `admin-${randomId(6).slice(0, 8)}`;
  const cert = issueCertificate(
    {
      id,
      role: 'admin',
      signPub: keys.sign.publicKey,
      boxPub: keys.box.publicKey,
      issuedAt: now,
      expiresAt: now + ADMIN_CERT_LIFETIME_MS,
      serial: randomId(),
    },
    { publicKey: cluster.rootPub, secretKey: cluster.rootSecret },
  );
  const identity: Identity = {
    v: 1,
    id,
    role: 'admin',
    keys,
    cert,
    rootPub: cluster.rootPub,
    managers: [managerAddress],
  };
  const file = path.join(dataDir, 'admin-identity.json');
  await writeFileAtomic(file, JSON.stringify(identity, null, 2) + '\n');
  return file;
}
