// Renews the node certificate at a random point between 50% and 80% of its lifetime, without a restart.
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import {
  certBodySchema,
  signText,
  verifyCertificate,
  type Certificate,
  type Identity,
} from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import { renewText, type RenewRequest } from '../../shared/protocol.js';

export interface RenewerDeps {
  clock: Clock;
  logger: Logger;
  identity(): Identity;
  /** Sends the request to a manager and resolves with the certificate it issued. */
  request(req: RenewRequest): Promise<Certificate>;
  /** Persists the renewed identity (atomically) and starts using it; throws when it could not. */
  adopt(identity: Identity): Promise<void>;
  /** In [0, 1): where between 50% and 80% of the lifetime to renew. */
  random(): number;
}

export const RENEW_FROM = 0.5;
export const RENEW_TO = 0.8;
/** Longer waits are taken in steps: Node's timers overflow past about 24.8 days. */
const MAX_TIMER_MS = 24 * 3600_000;

export class CertRenewer {
  private timer: TimerHandle | undefined;
  private target = 0;
  private stopped = false;
  private failures = 0;

  constructor(private readonly deps: RenewerDeps) {}

  /** When the next renewal is due (clock time), for tests and logs. */
  get dueAt(): number {
    return this.target;
  }

  start(): void {
    this.stopped = false;
    this.plan();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Picks the renewal time for the current certificate. */
  private plan(): void {
    const body = bodyOf(this.deps.identity().cert);
    if (!body) {
      this.deps.logger.error('cannot read this node certificate; it will not be renewed');
      return;
    }
    const lifetime = Math.max(0, body.expiresAt - body.issuedAt);
    const r = this.deps.random();
    this.target = body.issuedAt + lifetime * (RENEW_FROM + (RENEW_TO - RENEW_FROM) * r);
    this.failures = 0;
    this.arm(this.target);
  }

  private arm(at: number): void {
    if (this.stopped) return;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    const wait = Math.max(0, at - this.deps.clock.now());
    this.timer = this.deps.clock.setTimeout(
      () => {
        this.timer = undefined;
        if (this.deps.clock.now() < at) this.arm(at);
        else void this.renew();
      },
      Math.min(wait, MAX_TIMER_MS),
    );
  }

  private async renew(): Promise<void> {
    const { clock, logger } = this.deps;
    const identity = this.deps.identity();
    const old = bodyOf(identity.cert);
    try {
      const ts = clock.now();
      const nonce = randomBytes(12).toString('hex');
      const req: RenewRequest = {
        v: 1,
        id: randomBytes(8).toString('hex'),
        ts,
        nonce,
        sig: signText(renewText(identity.id, ts, nonce), identity.keys.sign.secretKey),
      };
      const cert = await this.deps.request(req);
      // The reply crossed a pinned connection, but a certificate is only adopted once it
      // really is this node's, for this key, from this cluster's root.
      const check = verifyCertificate(cert, identity.rootPub, clock.now());
      if (!check.ok) throw new Error(`the manager sent an unusable certificate: ${check.reason}`);
      if (check.body.id !== identity.id || check.body.signPub !== identity.keys.sign.publicKey)
        throw new Error('the manager sent a certificate for another identity');
      if (this.stopped) return;
      await this.deps.adopt({ ...identity, cert });
      logger.info('certificate renewed', {
        serial: check.body.serial,
        expiresAt: new Date(check.body.expiresAt).toISOString(),
      });
      this.plan();
    } catch (e) {
      this.failures++;
      const expiresAt = old?.expiresAt ?? clock.now();
      const lifetime = old ? old.expiresAt - old.issuedAt : 0;
      // Retries come quicker than the lifetime would suggest, and never later than expiry.
      const retry = Math.min(
        Math.max(1_000, lifetime / 50) * Math.min(this.failures, 5),
        Math.max(1_000, (expiresAt - clock.now()) / 4),
      );
      logger.warn('certificate renewal failed; will retry', {
        error: e instanceof Error ? e.message : String(e),
        retryInMs: Math.round(retry),
      });
      this.arm(clock.now() + retry);
    }
  }
}

function bodyOf(cert: Certificate): ReturnType<typeof certBodySchema.parse> | null {
  try {
    const r = certBodySchema.safeParse(JSON.parse(cert.body));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
