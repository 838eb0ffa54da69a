// Joining: a new board proves it holds the token and its key, and gets a node certificate.
import type { Clock } from '../../shared/clock.js';
import { fingerprint, issueCertificate, randomId, verifyText } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import {
  PREFIX,
  decode,
  encode,
  joinRequestSchema,
  topics,
  type JoinReply,
} from '../../shared/protocol.js';
import type { NodeRecord } from '../../shared/spec.js';
import type { Broker } from '../broker/broker.js';
import type { Propose } from '../controller.js';
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

export function serveJoins(deps: CertIssuerDeps): void {
  const { store, broker, logger, clock, certLifetimeMs } = deps;
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
    const req = d.value;
    const cluster = store.cluster();
    if (!cluster) return;
    // The token decides the role: a worker token never makes a manager.
    const role =
      req.token === cluster.managerToken
        ? 'manager'
        : req.token === cluster.workerToken
          ? 'worker'
          : null;
    if (!role || role !== principal.role)
      return reply({ v: 1, ok: false, error: 'invalid join token' });
    if (!req.token.includes(fingerprint(cluster.rootPub))) {
      return reply({ v: 1, ok: false, error: 'join token is for another cluster' });
    }
    if (!verifyText(req.token, req.sig, req.signPub)) {
      return reply({ v: 1, ok: false, error: 'join request signature does not match its key' });
    }
    const now = clock.now();
    const id = randomId();
    const serial = randomId();
    const cert = issueCertificate(
      {
        id,
        role,
        signPub: req.signPub,
        boxPub: req.boxPub,
        issuedAt: now,
        expiresAt: now + certLifetimeMs,
        serial,
      },
      { publicKey: cluster.rootPub, secretKey: cluster.rootSecret },
    );
    const node: NodeRecord = {
      id,
      name: req.name,
      role,
      status: 'unknown',
      statusMessage: 'joined, waiting for first heartbeat',
      availability: 'active',
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
      createdAt: now,
      updatedAt: now,
    };
    deps
      .propose({ commands: [{ type: 'node.put', node }] })
      .then(() => {
        logger.info('node joined', { nodeId: id, name: req.name, role, address: req.address });
        reply({ v: 1, ok: true, nodeId: id, role, cert, rootPub: cluster.rootPub });
      })
      .catch((e: unknown) => {
        logger.error('could not record joining node', { error: String(e) });
        reply({ v: 1, ok: false, error: 'the manager could not record the node; try again' });
      });
  });
}
