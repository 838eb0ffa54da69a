// The leader's ingress publisher: keeps the retained routing table current for every agent.
import type { Logger } from '../../shared/log.js';
import { encode, topics } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { ChangeSet } from '../store/commands.js';
import type { Store } from '../store/store.js';
import { buildIngressTable, tableContent } from './table.js';

/** Changes within this window go out as one table: well within the second the issue allows. */
const DEBOUNCE_MS = 50;

export class IngressPublisher {
  private timer: NodeJS.Timeout | undefined;
  private published = '';
  private running = false;
  private readonly onChange = (c: ChangeSet): void => {
    if (c.services.size > 0 || c.tasks.size > 0 || c.nodes.size > 0) this.schedule();
  };

  constructor(
    private readonly store: Store,
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running = true;
    this.published = '';
    this.store.on('change', this.onChange);
    this.schedule();
  }

  /** No longer the leader: withdraw the retained table, the next leader publishes its own. */
  stop(): void {
    this.running = false;
    this.store.off('change', this.onChange);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.published === '') return;
    this.published = '';
    this.broker
      .publish(topics.ingressTable(), Buffer.alloc(0), { retain: true, qos: 0 })
      .catch(() => undefined);
  }

  private schedule(): void {
    if (this.timer || !this.running) return;
    this.timer = setTimeout(() => {
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
