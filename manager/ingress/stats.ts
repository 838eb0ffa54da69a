// The leader's view of routing-mesh traffic: each node's latest per-port counters, in memory only.
import type { PortNodeStats, PortStatsView } from '../../shared/api.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import {
  INGRESS_STATS_MAX_BYTES,
  PREFIX,
  decode,
  ingressStatsSchema,
  type IngressStatsReport,
} from '../../shared/protocol.js';
import { taskName } from '../../shared/spec.js';
import type { Broker } from '../broker/broker.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { LeaderPart } from '../leader/controller.js';
import type { StoreView } from '../store/view.js';

/** A node silent this long has its counters forgotten (agents refresh them every 30 s). */
export const STATS_MAX_AGE_MS = 60_000;
/** Forgotten counters are swept at most this often, on the next report. */
const SWEEP_MS = 10_000;

/** What `service inspect` asks of the counters. */
export interface IngressStatsView {
  portStats(
    store: StoreView,
    published: number,
    protocol: 'tcp' | 'udp',
  ): PortStatsView | undefined;
}

export interface IngressStatsOptions {
  logger: Logger;
  clock?: Clock;
  maxAgeMs?: number;
}

interface Entry {
  at: number;
  report: IngressStatsReport;
}

/**
 * Keeps the newest report of every node while this manager leads; a follower keeps nothing and
 * answers nothing. Reports are metrics: they never go through Raft or the store, and a new
 * leader starts empty and fills up within one report period.
 */
export class IngressStats implements IngressStatsView, LeaderPart {
  private readonly nodes = new Map<string, Entry>();
  private readonly complaints: RateLimitedLog;
  private readonly clock: Clock;
  private readonly maxAgeMs: number;
  private running = false;
  private sweptAt = 0;
  private readonly topic = new RegExp(`^${PREFIX}/nodes/([^/]+)/ingress$`);

  constructor(
    private readonly store: StoreView,
    private readonly opts: IngressStatsOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.maxAgeMs = opts.maxAgeMs ?? STATS_MAX_AGE_MS;
    this.complaints = new RateLimitedLog(opts.logger, 5_000, this.clock);
  }

  /** Listens on the nodes' topics once; reports count only while started (leading). */
  attach(broker: Pick<Broker, 'onMessage'>): void {
    broker.onMessage(`${PREFIX}/nodes/`, (topic, payload, principal) => {
      if (!this.running) return;
      const nodeId = this.topic.exec(topic)?.[1];
      if (!nodeId) return;
      // The ACL lets a node publish only its own topic; the broker's own publishes have none.
      if (principal && (principal.kind !== 'node' || principal.id !== nodeId)) return;
      this.receive(nodeId, payload);
    });
  }

  start(): void {
    this.running = true;
  }

  stop(): void {
    this.running = false;
    this.nodes.clear();
  }

  /** Records a node's report; a malformed one is logged (rate-limited) and dropped. */
  receive(nodeId: string, payload: Buffer): boolean {
    if (!this.running) return false;
    const now = this.clock.now();
    this.sweep(now);
    const d = decode(ingressStatsSchema, payload, INGRESS_STATS_MAX_BYTES);
    if (!d.ok) {
      this.complaints.warn(`ingress:${nodeId}`, 'dropped ingress stats', {
        nodeId,
        reason: d.reason,
      });
      return false;
    }
    if (!this.store.node(nodeId)) return false;
    if (d.value.ports.length === 0) this.nodes.delete(nodeId);
    else this.nodes.set(nodeId, { at: now, report: d.value });
    return true;
  }

  /** Nodes whose counters are held (after dropping expired and removed ones). */
  nodeIds(): string[] {
    this.sweep(this.clock.now(), true);
    return [...this.nodes.keys()].sort();
  }

  portStats(
    store: StoreView,
    published: number,
    protocol: 'tcp' | 'udp',
  ): PortStatsView | undefined {
    if (!this.running) return undefined;
    this.sweep(this.clock.now(), true);
    const nodes: PortNodeStats[] = [];
    for (const [nodeId, { at, report }] of this.nodes) {
      const p = report.ports.find((x) => x.published === published && x.protocol === protocol);
      if (!p) continue;
      nodes.push({
        nodeId,
        nodeName: store.node(nodeId)?.name ?? null,
        reportedAt: new Date(at).toISOString(),
        active: p.active,
        total: p.total,
        errors: p.errors,
        connectErrors: p.connectErrors,
        bytesIn: p.bytesIn,
        bytesOut: p.bytesOut,
        tasks: p.backends
          .map((b) => {
            const t = store.task(b.taskId);
            return { ...b, ...(t ? { taskName: taskName(t) } : {}) };
          })
          .sort((a, b) => cmp(a.taskName ?? a.taskId, b.taskName ?? b.taskId)),
        ...(p.truncated ? { truncated: true } : {}),
      });
    }
    nodes.sort((a, b) => cmp(a.nodeName ?? a.nodeId, b.nodeName ?? b.nodeId));
    const sum = (k: 'active' | 'total' | 'errors' | 'connectErrors'): number =>
      nodes.reduce((n, x) => n + x[k], 0);
    return {
      active: sum('active'),
      total: sum('total'),
      errors: sum('errors'),
      connectErrors: sum('connectErrors'),
      nodes,
    };
  }

  /** Forgets nodes that went silent or were removed from the cluster. */
  private sweep(now: number, force = false): void {
    if (!force && now - this.sweptAt < SWEEP_MS) return;
    this.sweptAt = now;
    for (const [id, e] of this.nodes) {
      if (now - e.at > this.maxAgeMs || !this.store.node(id)) this.nodes.delete(id);
    }
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
