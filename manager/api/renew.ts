// Certificate renewal: a connected node proves it still holds its key and gets a fresh certificate.
import { CLOCK_SKEW_MS, issueCertificate, randomId, verifyText } from '../../shared/identity.js';
import {
  PREFIX,
  decode,
  encode,
  renewRequestSchema,
  renewText,
  topics,
  type RenewReply,
} from '../../shared/protocol.js';
import { NonceCache } from '../broker/replay.js';
import type { CertIssuerDeps } from './join.js';
import { retryOnConflict } from '../store/conflict.js';

export function serveRenewals(deps: CertIssuerDeps): void {
  const { store, broker, logger, clock, certLifetimeMs } = deps;
  const nonces = new NonceCache(CLOCK_SKEW_MS);
  broker.onMessage(`${PREFIX}/nodes/`, (topic, payload, principal) => {
    // The broker's ACL already confines a node to its own renew topic; this names the node.
    if (principal?.kind !== 'node' || topic !== topics.renew(principal.id)) return;
    const nodeId = principal.id;
    const d = decode(renewRequestSchema, payload);
    if (!d.ok) return logger.warn('dropped renewal request', { nodeId, reason: d.reason });
    const req = d.value;
    const reply = (msg: RenewReply): void => {
      void broker.publish(topics.renewReply(nodeId), encode(msg), { qos: 1 });
    };
    const now = clock.now();
    const node = store.node(nodeId);
    const cluster = store.cluster();
    if (!node || !cluster) return reply({ v: 1, id: req.id, ok: false, error: 'unknown node' });
    if (Math.abs(now - req.ts) > CLOCK_SKEW_MS)
      return reply({ v: 1, id: req.id, ok: false, error: 'renewal request too old' });
    if (!verifyText(renewText(nodeId, req.ts, req.nonce), req.sig, node.signPub)) {
      logger.warn('renewal refused: bad proof of key possession', { nodeId });
      return reply({ v: 1, id: req.id, ok: false, error: 'bad proof of key possession' });
    }
    if (!nonces.use(`${nodeId}|${req.nonce}`, req.ts, now)) {
      logger.warn('renewal refused: replayed request', { nodeId });
      return reply({ v: 1, id: req.id, ok: false, error: 'replayed request' });
    }
    const serial = randomId();
    const cert = issueCertificate(
      {
        id: nodeId,
        role: node.role,
        signPub: node.signPub,
        boxPub: node.boxPub,
        issuedAt: now,
        expiresAt: now + certLifetimeMs,
        serial,
      },
      { publicKey: cluster.rootPub, secretKey: cluster.rootSecret },
    );
    // Read again on each attempt: a status write may have changed the record meanwhile.
    retryOnConflict(async () => {
      const cur = deps.store.node(nodeId) ?? node;
      return deps.propose({
        commands: [
          {
            type: 'node.put',
            node: { ...cur, certSerial: serial, prevCertSerial: cur.certSerial, updatedAt: now },
          },
        ],
      });
    })
      .then(() => {
        logger.info('certificate renewed', { nodeId, serial, expiresAt: now + certLifetimeMs });
        reply({ v: 1, id: req.id, ok: true, cert });
      })
      .catch((e: unknown) => {
        logger.error('could not record a renewed certificate', { nodeId, error: String(e) });
        reply({ v: 1, id: req.id, ok: false, error: 'the manager could not record the renewal' });
      });
  });
}
