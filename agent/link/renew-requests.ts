// Renewal requests over the manager link: each one published, matched with its reply by id, or timed out.
import type { Clock } from '../../shared/clock.js';
import type { Certificate } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import {
  decode,
  encode,
  renewReplySchema,
  topics,
  type RenewRequest,
} from '../../shared/protocol.js';

/** How long a renewal request waits for the manager's reply before it counts as failed. */
export const RENEW_REPLY_TIMEOUT_MS = 30_000;

export interface RenewRequestDeps {
  nodeId: string;
  clock: Clock;
  logger: Logger;
  /** Hands a message to the connected manager; false when there is none. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): boolean;
}

export class RenewRequests {
  private readonly waiters = new Map<string, (cert: Certificate | Error) => void>();

  constructor(private readonly deps: RenewRequestDeps) {}

  /** Sends the request; resolves with the certificate the manager issued, rejects on refusal. */
  request(req: RenewRequest): Promise<Certificate> {
    const { clock } = this.deps;
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        this.waiters.delete(req.id);
        reject(new Error('no renewal reply from the manager'));
      }, RENEW_REPLY_TIMEOUT_MS);
      this.waiters.set(req.id, (r) => {
        clock.clearTimeout(timer);
        this.waiters.delete(req.id);
        if (r instanceof Error) reject(r);
        else resolve(r);
      });
      if (!this.deps.publish(topics.renew(this.deps.nodeId), encode(req), 1)) {
        this.waiters.get(req.id)?.(new Error('not connected to a manager'));
      }
    });
  }

  /** A reply on this node's renewal reply topic. */
  onReply(payload: Buffer): void {
    const d = decode(renewReplySchema, payload);
    if (!d.ok) return this.deps.logger.warn('dropped renewal reply', { reason: d.reason });
    this.waiters.get(d.value.id)?.(
      d.value.ok ? d.value.cert : new Error(`renewal refused: ${d.value.error}`),
    );
  }
}
