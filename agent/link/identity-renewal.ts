// Keeps this node's identity current: renews its certificate over the manager link and saves it before use.
import path from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import type { Clock } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import { CertRenewer } from './renewal.js';
import { RenewRequests } from './renew-requests.js';

export interface IdentityRenewalDeps {
  identity: Identity;
  /** Where identity.json lives. */
  dataDir: string;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** Hands a message to the connected manager; false when there is none. */
  publish: (topic: string, payload: Buffer, qos: 0 | 1) => boolean;
  /** A renewed identity, saved: the connection presents it from its next CONNECT. */
  use(identity: Identity): void;
}

export class IdentityRenewal {
  /** The identity in use: renewal replaces its certificate while the agent runs. */
  private identity: Identity;
  private readonly requests: RenewRequests;
  private readonly renewer: CertRenewer;

  constructor(private readonly deps: IdentityRenewalDeps) {
    this.identity = deps.identity;
    const { clock, random, logger } = deps;
    this.requests = new RenewRequests({
      nodeId: deps.identity.id,
      clock,
      logger,
      publish: deps.publish,
    });
    this.renewer = new CertRenewer({
      clock,
      random,
      logger: logger.child('renewal'),
      identity: () => this.identity,
      request: (req) => this.requests.request(req),
      adopt: (identity) => this.adopt(identity),
    });
  }

  /** When the certificate will next be renewed (clock time). */
  /** The identity in use now. */
  get current(): Identity {
    return this.identity;
  }

  get dueAt(): number {
    return this.renewer.dueAt;
  }

  start(): void {
    this.renewer.start();
  }

  stop(): void {
    this.renewer.stop();
  }

  /** A message on this node's renewal reply topic. */
  onReply(payload: Buffer): void {
    this.requests.onReply(payload);
  }

  /** Saved before it is used: a crash in between leaves the old, still valid, certificate. */
  private async adopt(identity: Identity): Promise<void> {
    await writeFileAtomic(
      path.join(this.deps.dataDir, 'identity.json'),
      JSON.stringify(identity, null, 2) + '\n',
    );
    this.identity = identity;
    this.deps.use(identity);
  }
}
