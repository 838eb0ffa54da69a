// The leader's ingress publisher: keeps the retained routing table current for every agent.
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { encode, topics } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { LeaderPart } from '../leader/controller.js';
import type { ChangeSet } from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import { buildIngressTable, tableContent } from './table.js';

/** Changes within this window go out as one table: well within the second the issue allows. */
const DEBOUNCE_MS = 50;

export interface IngressPublisherDeps {
  store: StoreView;
  broker: Pick<Broker, 'publish'>;
  logger: Logger;
  clock?: Clock;
}

export class IngressPublisher implements LeaderPart {
  private timer: TimerHandle | undefined;
  private published = '';
  private running = false;
  private unsubscribe: (() => void) | undefined;
  private readonly store: StoreView;
  private readonly broker: Pick<Broker, 'publish'>;
  private readonly logger: Logger;
  private readonly clock: Clock;

  constructor(deps: IngressPublisherDeps) {
    this.store = deps.store;
    this.broker = deps.broker;
    this.logger = deps.logger;
    this.clock = deps.clock ?? systemClock;
  }

  start(): void {
    this.running = true;
    this.published = '';
    this.unsubscribe ??= this.store.onChange((c: ChangeSet) => {
      if (c.services.size > 0 || c.tasks.size > 0 || c.nodes.size > 0) this.schedule();
    });
    this.schedule();
  }

  /** No longer the leader: withdraw the retained table, the next leader publishes its own. */
  stop(): void {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.published === '') return;
    this.published = '';
    this.broker
      .publish(topics.ingressTable(), Buffer.alloc(0), { retain: true, qos: 0 })
      .catch(() => undefined);
  }

  private schedule(): void {
    if (this.timer || !this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.publish();
    }, DEBOUNCE_MS);
  }

  private publish(): void {
    const table = buildIngressTable(this.store);
    const content = tableContent(table);
    if (content === this.published) return;
    this.published = content;
    this.broker
      .publish(topics.ingressTable(), encode(table), { retain: true, qos: 1 })
      .catch((e: unknown) => {
        this.published = '';
        this.logger.warn('could not publish the ingress table', { error: String(e) });
      });
  }
}
