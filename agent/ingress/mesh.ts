// The agent's side of the routing mesh: one forwarder per published ingress port, fed by the manager's table.
import { errorMessage } from '../../shared/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { decode, ingressTableSchema, type IngressTable } from '../../shared/protocol.js';
import { PortForwarder } from './forwarder.js';

type TablePort = IngressTable['ports'][number];

export interface MeshOptions {
  nodeId: string;
  /** The node's own address: every published port listens here. */
  bindHost: string;
  logger: Logger;
  /** Largest table accepted (bytes); a fleet of thousands of tasks stays far below it. */
  maxTableBytes?: number;
  /** Time for the retry of ports that could not be opened, and for the forwarders. */
  clock?: Clock;
}

/** A port that could not be opened (say, taken by another program) is tried again this often. */
const RETRY_MS = 5_000;

/**
 * Keeps a PortForwarder for every ingress port in the newest table, each with the port's tasks
 * as backends (this node's own first). A port that leaves the table closes; its open
 * connections end with it.
 */
export class IngressMesh {
  private readonly forwarders = new Map<string, { fw: PortForwarder; proxy: string }>();
  /** Forwarders of ports that left the table, finishing their open connections. */
  private readonly retiring = new Set<PortForwarder>();
  private table: IngressTable | null = null;
  private retry: TimerHandle | undefined;
  private closed = false;
  private readonly clock: Clock;

  constructor(private readonly opts: MeshOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** A table from the manager; an empty payload (a former leader withdrawing it) is no table. */
  onTable(payload: Buffer): void {
    if (payload.length === 0 || this.closed) return;
    const d = decode(ingressTableSchema, payload, this.opts.maxTableBytes ?? 4 * 1024 * 1024);
    if (!d.ok) return this.opts.logger.warn('dropped ingress table', { reason: d.reason });
    if (this.table && d.value.version < this.table.version) return;
    this.table = d.value;
    void this.apply();
  }

  /** Whether the newest table sends new connections to the task. */
  routes(taskId: string): boolean {
    return this.table?.ports.some((p) => p.backends.some((b) => b.taskId === taskId)) ?? false;
  }

  stats(): ReturnType<PortForwarder['stats']>[] {
    return [...this.forwarders.values()].map((f) => f.fw.stats());
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) this.clock.clearTimeout(this.retry);
    const all = [...this.forwarders.values()].map((f) => f.fw);
    this.forwarders.clear();
    all.push(...this.retiring);
    this.retiring.clear();
    await Promise.all(all.map((fw) => fw.close()));
  }

  private async apply(): Promise<void> {
    const table = this.table;
    if (!table || this.closed) return;
    // A port with no task to serve it is not listened on: clients are refused at once, as
    // they would be by a service that is not running.
    const wanted = new Map(
      table.ports.filter((p) => p.backends.length > 0).map((p) => [portKey(p), p]),
    );
    for (const [key, f] of this.forwarders) {
      const p = wanted.get(key);
      if (p && (p.proxy ?? '') === f.proxy) continue;
      this.forwarders.delete(key);
      // Stops listening now (a changed port opens again at once); open connections drain.
      this.retiring.add(f.fw);
      await f.fw.retire();
      void f.fw.closed.then(() => this.retiring.delete(f.fw));
    }
    let failed = false;
    for (const [key, p] of wanted) {
      if (!(await this.ensure(key, p))) failed = true;
    }
    if (failed && !this.retry) {
      this.retry = this.clock.setTimeout(() => {
        this.retry = undefined;
        void this.apply();
      }, RETRY_MS);
    }
  }

  /** Opens the port if needed and hands it its backends; false when it could not listen. */
  private async ensure(key: string, p: TablePort): Promise<boolean> {
    let entry = this.forwarders.get(key);
    if (!entry) {
      let fw: PortForwarder;
      try {
        fw = new PortForwarder({
          bindHost: this.opts.bindHost,
          port: p.published,
          protocol: p.protocol,
          ...(p.proxy ? { proxy: p.proxy } : {}),
          ...(p.drainMs !== undefined ? { drainMs: p.drainMs } : {}),
          logger: this.opts.logger,
          clock: this.clock,
        });
        await fw.start();
      } catch (e) {
        this.opts.logger.error('could not listen on a published port; will retry', {
          port: key,
          service: p.service,
          error: errorMessage(e),
        });
        return false;
      }
      entry = { fw, proxy: p.proxy ?? '' };
      this.forwarders.set(key, entry);
    } else if (p.drainMs !== undefined) entry.fw.setDrainMs(p.drainMs);
    entry.fw.setBackends(
      p.backends.map((b) => ({
        id: b.taskId,
        host: b.host,
        port: b.port,
        local: b.nodeId === this.opts.nodeId,
      })),
    );
    return true;
  }
}

const portKey = (p: Pick<TablePort, 'published' | 'protocol'>): string =>
  `${p.published}/${p.protocol}`;
