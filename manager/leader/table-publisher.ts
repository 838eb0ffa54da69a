// A leader part that keeps one retained table current for every agent: computed from the store, sent when it changes.
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { encode } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { ChangeSet } from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import type { LeaderPart } from './controller.js';

/** Changes within this window go out as one table: well within the second agents are allowed. */
const DEBOUNCE_MS = 50;

export interface TableSource<T> {
  /** What the table is called in logs ("ingress table"). */
  what: string;
  topic: string;
  build(store: StoreView): T;
  /** The table without its version: what decides whether agents need a new copy. */
  content(table: T): string;
  /** Whether a change may alter the table. */
  affects(c: ChangeSet): boolean;
}

export interface TablePublisherDeps {
  store: StoreView;
  broker: Pick<Broker, 'publish'>;
  logger: Logger;
  clock?: Clock;
}

export class TablePublisher<T> implements LeaderPart {
  private timer: TimerHandle | undefined;
  private published = '';
  private running = false;
  private unsubscribe: (() => void) | undefined;
  private readonly clock: Clock;

  constructor(
    private readonly source: TableSource<T>,
    private readonly deps: TablePublisherDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
  }

  start(): void {
    this.running = true;
    this.published = '';
    this.unsubscribe ??= this.deps.store.onChange((c: ChangeSet) => {
      if (this.source.affects(c)) this.schedule();
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
    this.deps.broker
      .publish(this.source.topic, Buffer.alloc(0), { retain: true, qos: 0 })
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
    const table = this.source.build(this.deps.store);
    const content = this.source.content(table);
    if (content === this.published) return;
    this.published = content;
    this.deps.broker
      .publish(this.source.topic, encode(table), { retain: true, qos: 1 })
      .catch((e: unknown) => {
        this.published = '';
        this.deps.logger.warn(`could not publish the ${this.source.what}`, { error: String(e) });
      });
  }
}
