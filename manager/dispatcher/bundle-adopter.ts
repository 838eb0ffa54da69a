// The leader's part that hears boards report an offline bundle and writes its adoption through Raft, once per bundle.
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { PREFIX, decode, statusSchema } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { LeaderPart } from '../leader/controller.js';
import { isWriteConflict } from '../store/conflict.js';
import type { Propose, StoreView } from '../store/view.js';
import { adoptBundle } from './bundle-adoption.js';

export interface BundleAdopterDeps {
  store: StoreView;
  propose: Propose;
  broker: Broker;
  logger: Logger;
  clock: Clock;
}

/** A status that names a bundle is rare: the rest are passed over without being parsed. */
const MARK = Buffer.from('"bundle":{');

export class BundleAdopter implements LeaderPart {
  private stopped = true;
  /** Bundles being written now, by node: a status repeated meanwhile starts nothing. */
  private readonly busy = new Set<string>();

  constructor(private readonly deps: BundleAdopterDeps) {
    const status = new RegExp(`^${PREFIX}/nodes/([^/]+)/status$`);
    deps.broker.onMessage(`${PREFIX}/nodes/`, (topic, payload) => {
      const m = status.exec(topic);
      if (!this.stopped && m?.[1] && payload.includes(MARK)) void this.onStatus(m[1], payload);
    });
  }

  start(): void {
    this.stopped = false;
  }

  stop(): void {
    this.stopped = true;
  }

  private async onStatus(nodeId: string, payload: Buffer): Promise<void> {
    const { store, logger, clock } = this.deps;
    const d = decode(statusSchema, payload);
    if (!d.ok || !d.value.bundle || this.busy.has(nodeId)) return;
    const a = adoptBundle(store, nodeId, d.value.bundle, clock.now());
    if (a.kind === 'none') return;
    const bundle = d.value.bundle.signed.manifest.sequence;
    this.busy.add(nodeId);
    try {
      await this.deps.propose({ commands: a.commands });
      if (a.kind === 'refused')
        logger.warn('offline bundle not adopted', { nodeId, bundle, reason: a.reason });
      else
        logger.info('offline bundle adopted', {
          nodeId,
          bundle,
          services: a.services,
          kept: a.skipped,
        });
    } catch (e) {
      // The board says it again with its next full status.
      if (!isWriteConflict(e) && !this.stopped)
        logger.warn('could not record an offline bundle; will retry', { nodeId, error: String(e) });
    } finally {
      this.busy.delete(nodeId);
    }
  }
}
