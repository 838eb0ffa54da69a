// Sends this node's routing-mesh counters to the manager every few seconds while they change.
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import {
  INGRESS_STATS_MAX_BYTES,
  encode,
  topics,
  type IngressPortStats,
  type IngressStatsReport,
} from '../../shared/protocol.js';
import type { ForwarderStats } from './forwarder.js';

/** How often the counters are looked at; a report goes out only when they changed. */
export const REPORT_MS = 5_000;
/**
 * Unchanged counters are sent again this often, so the leader (which forgets a node's counters
 * after 60 s without a report) keeps showing an idle port.
 */
export const REFRESH_MS = 30_000;
/** Ports and backends a report carries at most: the worst case stays under the payload cap. */
export const MAX_PORTS = 64;
export const MAX_BACKENDS = 300;

export interface ReporterOptions {
  nodeId: string;
  /** The mesh's forwarders, as IngressMesh.stats() gives them. */
  stats: () => readonly ForwarderStats[];
  /** Hands a message to the broker; false while not connected. */
  publish: (topic: string, payload: Buffer) => boolean;
  /**
   * The manager connection in use (its address), or null: a new connection gets the counters
   * at the next tick, changed or not, as the manager on the other end may have none.
   */
  session: () => string | null;
  logger: Logger;
  periodMs?: number;
  refreshMs?: number;
  /** Time for the reporting period and the refresh of unchanged counters. */
  clock?: Clock;
}

export class IngressReporter {
  private timer: TimerHandle | undefined;
  /** What the last report sent said (without its timestamp), and where and when it went. */
  private lastBody: string | null = null;
  private lastSession: string | null = null;
  private lastAt = 0;
  private readonly clock: Clock;

  constructor(private readonly opts: ReporterOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  start(): void {
    if (this.timer) return;
    const period = this.opts.periodMs ?? REPORT_MS;
    this.timer = this.clock.setInterval(() => this.tick(), period);
  }

  stop(): void {
    if (this.timer) this.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Sends a report if one is due; returns whether it sent one (tests call it directly). */
  tick(): boolean {
    const now = this.clock.now();
    const session = this.opts.session();
    if (session === null) {
      this.lastSession = null;
      return false;
    }
    const ports = buildPorts(this.opts.stats());
    const body = JSON.stringify(ports);
    const sameSession = session === this.lastSession;
    if (ports.length === 0) {
      // No ingress port: nothing to say, except once, to clear what an earlier report said.
      if (this.lastBody === null || this.lastBody === body) return false;
    } else if (
      sameSession &&
      body === this.lastBody &&
      now - this.lastAt < (this.opts.refreshMs ?? REFRESH_MS)
    ) {
      return false;
    }
    const report: IngressStatsReport = { v: 1, ts: now, ports };
    const payload = encode(report);
    if (payload.length > INGRESS_STATS_MAX_BYTES) {
      // Cannot happen within MAX_PORTS and MAX_BACKENDS; sending it would only get it dropped.
      this.opts.logger.warn('ingress stats report too large; not sent', { bytes: payload.length });
      return false;
    }
    if (!this.opts.publish(topics.ingressStats(this.opts.nodeId), payload)) return false;
    this.lastBody = body;
    this.lastSession = session;
    this.lastAt = now;
    return true;
  }
}

/**
 * The report's ports, sorted, at most MAX_PORTS of them and MAX_BACKENDS backends in all: each
 * port gets an equal share first and what some leave unused goes to the others in port order.
 * A port's busiest backends come first, so those are the ones kept when it is cut.
 */
export function buildPorts(stats: readonly ForwarderStats[]): IngressPortStats[] {
  const sorted = [...stats]
    .sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol))
    .slice(0, MAX_PORTS);
  const lists = sorted.map((s) =>
    Object.entries(s.backends)
      .map(([taskId, b]) => ({ taskId, active: b.active, total: b.total, errors: b.errors }))
      .sort((a, b) => b.active - a.active || b.total - a.total || cmp(a.taskId, b.taskId)),
  );
  const share = Math.floor(MAX_BACKENDS / Math.max(1, lists.length));
  const keep = lists.map((l) => Math.min(l.length, share));
  let spare = MAX_BACKENDS - keep.reduce((n, k) => n + k, 0);
  keep.forEach((k, i) => {
    const more = Math.min(spare, (lists[i]?.length ?? 0) - k);
    keep[i] = k + more;
    spare -= more;
  });
  return sorted.map((s, i) => {
    const all = lists[i] ?? [];
    const backends = all.slice(0, keep[i] ?? 0);
    return {
      published: s.port,
      protocol: s.protocol,
      active: s.active,
      total: s.total,
      errors: s.errors,
      connectErrors: s.connectErrors,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      backends,
      ...(backends.length < all.length ? { truncated: true } : {}),
    };
  });
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
