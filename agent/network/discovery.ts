// The agent's side of discovery by name: fed the discovery table, it keeps a bridge per network its tasks use, with names and forwarders.
import { promises as fs } from 'node:fs';
import Docker from 'dockerode';
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import { defaultDockerHost, type DockerHost } from '../../shared/docker-host.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { discoveryTableSchema, type DiscoveryTable } from '../../shared/network.js';
import { decode } from '../../shared/protocol.js';
import type { LocalNetwork, NetworkProvider } from '../runtime/types.js';
import { ActiveNetwork } from './active-network.js';
import { createBridge, findBridge, listOwnBridges, networkInUse, removeBridge } from './bridge.js';
import { parseResolvConf, type ResolvConf } from './dns-policy.js';
import {
  DEFAULT_NETWORK_POOL,
  assignVips,
  forwardPlans,
  localNetworkName,
  nameTable,
  poolPrefixes,
} from './plan.js';
import { pruneGoneStacks } from './prune.js';
import { NetworkMembership } from './membership.js';
import { NetworkStateStore } from './state-store.js';

export interface NetworkDiscoveryOptions {
  nodeId: string;
  /** Where virtual addresses and the last table are kept. */
  dataDir: string;
  logger: Logger;
  /** The engine the runtime uses; by default the local socket. */
  dockerHost?: DockerHost;
  /** Bridges take their /24 from here (the agent's --network-pool). */
  pool?: string;
  /** The name servers' port on each gateway (53; tests may pick another). */
  dnsPort?: number;
  /** Where the host's name servers are read from. */
  resolvConf?: string;
  /** Remove the volumes of stacks that are gone (networks always are). */
  pruneVolumes?: boolean;
  /** How often unused bridges are looked for and resolv.conf read again. */
  sweepMs?: number;
  maxTableBytes?: number;
  clock?: Clock;
}

const DEFAULT_SWEEP_MS = 15_000;
/** How long a bridge waits for the table to list its network before it is made without it. */
const TABLE_WAIT_MS = 5_000;

/**
 * What the agent wiring calls: start() once, onTable() with each payload of the discovery table
 * topic, ensure() (through the Docker runtime) before a task on a network is created, close()
 * when the agent stops. Every change runs one at a time, in order.
 */
export class NetworkDiscovery implements NetworkProvider {
  private readonly docker: Docker;
  private readonly clock: Clock;
  private readonly store: NetworkStateStore;
  private readonly pool: string;
  private readonly active = new Map<string, ActiveNetwork>();
  private readonly membership: NetworkMembership;
  private table: DiscoveryTable | null = null;
  private upstream: ResolvConf = { nameservers: [], search: [] };
  private queue: Promise<unknown> = Promise.resolve();
  private sweepTimer: TimerHandle | undefined;
  private closed = false;
  private readonly tableWaiters: (() => void)[] = [];

  constructor(private readonly opts: NetworkDiscoveryOptions) {
    this.docker = new Docker({ ...(opts.dockerHost ?? defaultDockerHost()).options });
    this.clock = opts.clock ?? systemClock;
    this.store = new NetworkStateStore(opts.dataDir, opts.logger);
    this.pool = opts.pool ?? DEFAULT_NETWORK_POOL;
    this.membership = new NetworkMembership(this.docker, this.clock);
    poolPrefixes(this.pool); // a bad pool fails the start, not the first task
  }

  /** Loads the kept state and carries on with the bridges this node already has. */
  async start(): Promise<void> {
    await fs.mkdir(this.opts.dataDir, { recursive: true });
    this.table = await this.store.load();
    await this.readResolvConf();
    await this.serial(async () => {
      const own = await listOwnBridges(this.docker, this.opts.nodeId).catch(() => []);
      for (const b of own) if (b.network) await this.activate(b.network, b.name);
      await this.applyAll();
    });
    this.sweepTimer = this.clock.setInterval(
      () => void this.sweep(),
      this.opts.sweepMs ?? DEFAULT_SWEEP_MS,
    );
  }

  /** A payload of the table topic; an empty one (a leader withdrawing its copy) is no table. */
  onTable(payload: Buffer): void {
    if (payload.length === 0 || this.closed) return;
    const d = decode(discoveryTableSchema, payload, this.opts.maxTableBytes ?? 8 * 1024 * 1024);
    if (!d.ok) return this.opts.logger.warn('dropped discovery table', { reason: d.reason });
    this.accept(d.value);
  }

  /** Takes a table already checked (tests hand one in); an older version than the last is ignored. */
  accept(table: DiscoveryTable): void {
    if (this.table && table.version < this.table.version) return;
    this.table = table;
    for (const wake of this.tableWaiters.splice(0)) wake();
    void this.store.saveTable(table);
    void this.serial(async () => {
      await this.applyAll();
      await this.removeUnused();
      await pruneGoneStacks(this.docker, {
        nodeId: this.opts.nodeId,
        stacks: table.stacks,
        volumes: this.opts.pruneVolumes !== false,
        logger: this.opts.logger,
      });
    });
  }

  /**
   * The bridge of a cluster network on this node, made (with its names) when it is missing. A
   * task's assignment can arrive before the table that lists its network: the bridge waits a
   * little for it, so it is made internal and labelled with its stack as the table says.
   */
  async ensure(network: string): Promise<LocalNetwork> {
    if (!this.entry(network)) await this.tableListing(network);
    // A bridge in use and in the table is kept current by every table: a task starting on it
    // need not queue behind that work (tables come often while a stack deploys).
    const ready = this.active.get(network);
    if (ready && this.entry(network))
      return { name: ready.bridge.name, gateway: ready.bridge.layout.gateway };
    return this.serial(async () => {
      const name = localNetworkName(network, this.opts.nodeId);
      let a = this.active.get(network) ?? (await this.activate(network, name));
      if (!a) {
        const entry = this.entry(network);
        const bridge = await createBridge(this.docker, {
          name,
          network,
          nodeId: this.opts.nodeId,
          pool: this.pool,
          internal: entry?.internal ?? false,
          ...(entry?.stack ? { stack: entry.stack } : {}),
        });
        this.opts.logger.info('made a network bridge', { network, subnet: bridge.layout.subnet });
        a = this.newActive(network, bridge);
      }
      await this.applyOne(network, a);
      return { name: a.bridge.name, gateway: a.bridge.layout.gateway };
    });
  }

  /** Resolves once a table lists the network, or after TABLE_WAIT_MS without one. */
  private async tableListing(network: string): Promise<void> {
    const deadline = this.clock.now() + TABLE_WAIT_MS;
    while (!this.entry(network) && !this.closed && this.clock.now() < deadline) {
      let wake: () => void = () => undefined;
      const next = new Promise<void>((r) => (wake = r));
      this.tableWaiters.push(wake);
      const timer = this.clock.setTimeout(wake, deadline - this.clock.now());
      await next;
      this.clock.clearTimeout(timer);
    }
  }

  /** The names a network answers on this node (lower case, with their addresses). */
  names(network: string): ReadonlyMap<string, string> {
    return this.active.get(network)?.nameTable ?? new Map();
  }

  /** Removes the bridges no container uses that the table no longer lists. */
  sweep(): Promise<void> {
    return this.serial(async () => {
      await this.readResolvConf();
      await this.removeUnused();
    });
  }

  /** Stops answering and forwarding; the bridges stay for the tasks that keep running. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) this.clock.clearInterval(this.sweepTimer);
    await this.serial(async () => {
      for (const a of this.active.values()) await a.close();
      this.active.clear();
    });
  }

  /** Closes and removes every bridge of this node no container uses (a node leaving, tests). */
  async removeAll(): Promise<void> {
    const names = [...this.active.values()].map((a) => a.bridge.name);
    await this.close();
    for (const n of names) await removeBridge(this.docker, n).catch(() => false);
  }

  private entry(network: string): DiscoveryTable['networks'][number] | undefined {
    return this.table?.networks.find((n) => n.name === network);
  }

  private async activate(network: string, name: string): Promise<ActiveNetwork | undefined> {
    const bridge = await findBridge(this.docker, name);
    return bridge ? this.newActive(network, bridge) : undefined;
  }

  private newActive(network: string, bridge: ActiveNetwork['bridge']): ActiveNetwork {
    const a = new ActiveNetwork({
      bridge,
      dnsPort: this.opts.dnsPort ?? 53,
      upstream: () => this.upstream,
      moreNames: (client) => this.otherNames(bridge.name, client),
      logger: this.opts.logger.child(`network:${network}`),
      clock: this.clock,
    });
    this.active.set(network, a);
    return a;
  }

  /** The names of the client container's other networks on this node, when it is on several. */
  private async otherNames(bridge: string, client: string): Promise<ReadonlyMap<string, string>> {
    const out = new Map<string, string>();
    if (this.active.size < 2) return out;
    const joined = new Set(await this.membership.networksOf(bridge, client));
    for (const a of this.active.values()) {
      if (a.bridge.name === bridge || !joined.has(a.bridge.name)) continue;
      for (const [name, vip] of a.nameTable) if (!out.has(name)) out.set(name, vip);
    }
    return out;
  }

  private async applyAll(): Promise<void> {
    for (const [network, a] of this.active) await this.applyOne(network, a);
  }

  private async applyOne(network: string, a: ActiveNetwork): Promise<void> {
    const entry = this.entry(network);
    if (!entry) return a.apply(new Map(), []);
    const services = entry.services.map((s) => s.service);
    const { vips, unplaced } = assignVips(this.store.vipsOf(network), services);
    if (unplaced.length > 0)
      this.opts.logger.error('a network has more services than virtual addresses', {
        network,
        without: unplaced.slice(0, 10),
      });
    await this.store.setVips(network, vips);
    const layout = a.bridge.layout;
    await a.apply(
      nameTable(entry, layout, vips),
      forwardPlans(entry, layout, vips, this.opts.nodeId),
    );
  }

  private async removeUnused(): Promise<void> {
    for (const [network, a] of [...this.active]) {
      if (this.entry(network) || this.closed) continue;
      if (await networkInUse(this.docker, a.bridge.name).catch(() => true)) continue;
      await a.close();
      this.active.delete(network);
      this.membership.forget(a.bridge.name);
      if (await removeBridge(this.docker, a.bridge.name).catch(() => false)) {
        await this.store.setVips(network, {});
        this.opts.logger.info('removed an unused network bridge', { network });
      }
    }
  }

  private async readResolvConf(): Promise<void> {
    const file = this.opts.resolvConf ?? '/etc/resolv.conf';
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    this.upstream = parseResolvConf(text);
  }

  /** Runs fn after everything queued before it; a failure is the caller's, and the queue goes on. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch((e: unknown) => {
      this.opts.logger.warn('network step failed', { error: errorMessage(e) });
    });
    return run;
  }
}
