// Keeps the dashboard's browsers current: a snapshot for each new one, then row diffs and plot points.
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { StoreView } from '../store/view.js';
import { RowTracker, isEmptyDiff } from './diff.js';
import type { Feed } from './feed.js';
import {
  nodeRows,
  serviceRows,
  seriesSample,
  type ModelInputs,
  type NodeRow,
  type SeriesSample,
  type ServiceRow,
} from './model.js';

/** How often the plots get a point and the rows are compared, when nothing else prompts it. */
export const SAMPLE_MS = 1_000;
/** Plot points kept for a browser that opens the page: ten minutes at one a second. */
const SERIES_KEPT = 600;
/** A burst of commits is sent as one diff, this long after the first. */
const CHANGE_DELAY_MS = 50;

export interface Snapshot {
  seq: number;
  nodes: NodeRow[];
  services: ServiceRow[];
  series: SeriesSample[];
}

export class LiveState {
  private readonly nodes = new RowTracker<NodeRow>();
  private readonly services = new RowTracker<ServiceRow>();
  private readonly series: SeriesSample[] = [];
  private seq = 0;
  private timer: TimerHandle | undefined;
  private soon: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly inputs: ModelInputs & { store: StoreView },
    private readonly feed: Feed,
    private readonly clock: Clock,
  ) {}

  start(): void {
    this.publishChanges();
    this.timer = this.clock.setInterval(() => {
      this.sample();
      this.publishChanges();
    }, SAMPLE_MS);
    this.unsubscribe = this.inputs.store.onChange(() => {
      this.soon ??= this.clock.setTimeout(() => {
        this.soon = undefined;
        this.publishChanges();
      }, CHANGE_DELAY_MS);
    });
  }

  stop(): void {
    if (this.timer) this.clock.clearInterval(this.timer);
    if (this.soon) this.clock.clearTimeout(this.soon);
    this.unsubscribe?.();
  }

  /**
   * Everything now. Diffs that follow are taken against older rows, so they may repeat some of
   * it: a browser applies whole rows, so a repeat changes nothing.
   */
  snapshot(): Snapshot {
    return {
      seq: this.seq,
      nodes: nodeRows(this.inputs),
      services: serviceRows(this.inputs.store),
      series: [...this.series],
    };
  }

  private publishChanges(): void {
    // Nobody watching: nothing to compare. A browser that connects gets a whole snapshot, and
    // the diffs after it, taken against older rows, only repeat rows it has.
    if (this.feed.size === 0) return;
    const nodes = this.nodes.next(nodeRows(this.inputs));
    const services = this.services.next(serviceRows(this.inputs.store));
    if (isEmptyDiff(nodes) && isEmptyDiff(services)) return;
    this.seq++;
    this.feed.publish('state', { seq: this.seq, nodes, services });
  }

  private sample(): void {
    const s = seriesSample(this.inputs, this.clock.now());
    this.series.push(s);
    if (this.series.length > SERIES_KEPT) this.series.shift();
    this.feed.publish('series', s);
  }
}
