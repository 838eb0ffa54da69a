// A manager process: store, Raft, embedded broker, API and the leader's controllers, wired together.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { joinWithReply } from '../shared/join-client.js';
import { readJsonFile, writeFileAtomic } from '../shared/atomic-file.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { randomId, type Identity } from '../shared/identity.js';
import { createLogger, type Logger } from '../shared/log.js';
import { openBundle, type ManagerBundle } from './api/join.js';
import { Broker } from './broker/broker.js';
import { DEFAULT_HEARTBEAT_MS, newCluster, writeAdminIdentity } from './bootstrap/cluster.js';
import { DATA_KEY_FILE, loadOrCreateDataKey } from './bootstrap/data-key.js';
import {
  issueManagerIdentity,
  loadManagerIdentity,
  saveManagerIdentity,
  boardArch,
  defaultManagerName,
} from './bootstrap/manager-node.js';
import { prepareRaftLog } from './raft/bootstrap.js';
import { RaftHost, type PeerTransport, type RaftTiming } from './raft/host.js';
import { RaftStorage } from './raft/storage.js';
import { RaftTransport } from './raft/transport.js';
import type { ClusterRecord } from './store/commands.js';
import { Store } from './store/store.js';
import { onEvent } from './events/feed.js';
import { storeEventSource } from './dashboard/event-source.js';
import { relayLogSource } from './dashboard/log-source.js';
import type { FleetEvent } from '../shared/events.js';
import { loadOrMakeTls } from './bootstrap/tls.js';
import { wire } from './wiring.js';
import { BlobService } from './images/blob-service.js';
import { BlobStore } from '../shared/blobs/blob-store.js';
import { openWebListeners } from './observe/web-listeners.js';
import type { ManagerChaosOptions } from './chaos/manager-faults.js';

export interface ManagerOptions {
  dataDir: string;
  host: string;
  port: number;
  heartbeatMs?: number;
  logger?: Logger;
  clock?: Clock;
  /** Plain TCP instead of TLS: development only. */
  insecure?: boolean;
  /** Lifetime of the node certificates this manager issues (default 90 days). */
  certLifetimeMs?: number;
  /** Join the cluster of these managers (HOST:PORT) with a manager token. */
  join?: { managers: string[]; token: string };
  /** Rebuild a one-manager cluster from this manager's data. */
  forceNewCluster?: boolean;
  raftTiming?: Partial<RaftTiming>;
  /** This manager's node name (default manager-HOST). */
  name?: string;
  /** Cut this manager off from the managers listed in DIR/partition (tests only). */
  faultInjection?: boolean;
  /** Entries applied between snapshots (default 1000). */
  snapshotEvery?: number;
  /** An agent runs beside this manager with its identity: its node record takes tasks. */
  worker?: boolean;
  /** Bytes per second this manager sends as image blobs to all nodes together (0: no limit). */
  maxBandwidth?: number;
  /** Serve Prometheus metrics at http://HOST:PORT/metrics. */
  metricsAddr?: { host: string; port: number };
  /** Require a bearer token (a dashboard token) for /metrics. */
  metricsAuth?: boolean;
  /** Serve the web dashboard at https://HOST:PORT/. */
  dashboardAddr?: { host: string; port: number };
  /** How often agents send usage summaries with their heartbeats (default 30s; 0: never). */
  statsMs?: number;
  /** Fault orders for soak tests (`--allow-chaos`), and what restarts this manager. */
  chaos?: ManagerChaosOptions;
}

export interface StartReport {
  created: boolean;
  joined: boolean;
  address: string;
  workerToken: string;
  managerToken: string;
  adminIdentity: string;
  insecure: boolean;
  /** Where /metrics is served, when asked. */
  metricsAddress?: string;
  /** Where the dashboard is served, when asked. */
  dashboardAddress?: string;
}

export class Manager {
  private constructor(
    readonly id: string,
    readonly store: Store,
    readonly broker: Broker,
    readonly raft: RaftHost,
    readonly transport: RaftTransport,
    readonly address: string,
    readonly report: StartReport,
    private readonly parts: { stop(): void }[],
  ) {}

  static async start(opts: ManagerOptions): Promise<Manager> {
    const clock = opts.clock ?? systemClock;
    const logger = opts.logger ?? createLogger('manager');
    await fs.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    const address = `${opts.host}:${opts.port}`;
    const store = new Store(path.join(opts.dataDir, 'state.db'));
    const storage = new RaftStorage(path.join(opts.dataDir, 'raft.db'));
    const closeAll = (): void => {
      storage.close();
      store.close();
    };
    try {
      const joined = await joinIfAsked(opts, store, storage, address);
      const id = joined?.identity.id ?? (await managerId(opts.dataDir));
      const base = { opts, id, store, clock, logger, joined };
      const { raft, link, start } = await openRaft({ ...base, storage, address });
      const cluster = store.cluster() ?? joined?.bundle.cluster;
      if (!cluster)
        throw new Error(
          `${opts.dataDir} belongs to a manager that never received the cluster state; remove it and join again`,
        );
      const dataKey = await loadOrCreateDataKey(opts.dataDir);
      let identity = joined?.identity ?? (await loadManagerIdentity(opts.dataDir));
      if (!identity) {
        identity = issueManagerIdentity(id, cluster, clock.now());
        await saveManagerIdentity(opts.dataDir, identity);
      }
      const net = await openNetwork({ ...base, raft, cluster, identity });
      link.bind(net.transport);
      raft.refreshPeers();
      const listenAddress = net.listenAddress;
      const adminIdentity = await ensureAdminIdentity(opts.dataDir, cluster, listenAddress, clock);
      const blobs = await BlobService.start({
        broker: net.broker,
        blobs: await BlobStore.open(opts.dataDir),
        clock,
        logger: logger.child('blobs'),
        maxBandwidth: opts.maxBandwidth ?? 0,
      });
      const web = await openWebListeners(opts, { store, clock, logger, cluster });
      const { parts, metrics, live, logs } = wire({
        ...base,
        blobs,
        identity,
        raft,
        ...net,
        dataKey,
        address: listenAddress,
        singleManagerRestart: start === 'existing',
      });
      const sources = { events: storeEventSource(store), logs: relayLogSource(logs) };
      parts.push(...web.serve(metrics, live, sources));
      logger.info('manager started', { id, address: listenAddress, cluster: cluster.id, start });
      const report: StartReport = {
        created: start === 'new-cluster',
        joined: joined !== undefined,
        address: listenAddress,
        workerToken: cluster.workerToken,
        managerToken: cluster.managerToken,
        adminIdentity,
        insecure: opts.insecure === true,
        ...web.addresses,
      };
      const { broker, transport } = net;
      return new Manager(id, store, broker, raft, transport, listenAddress, report, parts);
    } catch (e) {
      closeAll();
      throw e;
    }
  }

  /**
   * Resolves if a committed change removed this manager from the cluster (it was removed with
   * `fleet node rm --force` while it was down): it has nothing left to do and should stop.
   */
  removed(): Promise<void> {
    return new Promise((resolve) => this.raft.once('removed', () => resolve()));
  }

  /**
   * Calls `listener` with each cluster event (shared/events.ts) as this manager applies it, on
   * the leader and on followers alike; returns the unsubscribe. For in-process observers such as
   * a dashboard.
   */
  onEvent(listener: (e: FleetEvent) => void): () => void {
    return onEvent(this.store, listener);
  }

  async stop(): Promise<void> {
    for (const p of this.parts) p.stop();
    this.raft.stop();
    await this.transport.close();
    await this.broker.close();
    this.raft.close();
    this.store.close();
  }
}

interface StartContext {
  opts: ManagerOptions;
  id: string;
  store: Store;
  clock: Clock;
  logger: Logger;
  joined: Joined | undefined;
}

/** Opens the Raft log and starts the host; a new cluster's first leader writes its record. */
async function openRaft(
  c: StartContext & { storage: RaftStorage; address: string },
): Promise<{ raft: RaftHost; link: LateTransport; start: ReturnType<typeof prepareRaftLog> }> {
  const { opts, id, store, storage, logger, joined } = c;
  const start = prepareRaftLog({
    storage,
    store,
    id,
    address: c.address,
    logger: logger.child('raft'),
    forceNewCluster: opts.forceNewCluster === true,
    joining: joined !== undefined,
  });
  const link = new LateTransport();
  const raft = new RaftHost({
    id,
    store,
    storage,
    transport: link,
    clock: c.clock,
    logger: logger.child('raft'),
    ...(joined ? { initialPeers: joined.bundle.members } : {}),
    ...(opts.snapshotEvery
      ? { snapshotEvery: opts.snapshotEvery, retainEntries: Math.ceil(opts.snapshotEvery / 10) }
      : {}),
    ...(opts.raftTiming ? { timing: opts.raftTiming } : {}),
  });
  raft.start();
  if (start === 'new-cluster') {
    await raft.untilLeading();
    const cluster = newCluster(c.clock.now(), opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    await raft.propose({ commands: [{ type: 'cluster.init', cluster }] });
  }
  return { raft, link, start };
}

/** Starts the broker (TLS unless --insecure) and the Raft transport that travels over it. */
async function openNetwork(
  c: StartContext & { raft: RaftHost; cluster: ClusterRecord; identity: Identity },
): Promise<{ broker: Broker; transport: RaftTransport; listenAddress: string }> {
  const { opts, id, store, clock, logger, raft, cluster } = c;
  const broker = new Broker(store, logger.child('broker'), clock, {
    joiningCluster: c.joined?.bundle.cluster,
  });
  const tls = opts.insecure
    ? undefined
    : await loadOrMakeTls(opts.dataDir, cluster, opts.host, clock.now());
  const listening = await broker.start(opts.host, opts.port, tls);
  const transport = new RaftTransport({
    selfId: id,
    broker,
    identity: c.identity,
    rootPub: cluster.rootPub,
    insecure: opts.insecure === true,
    logger: logger.child('raft-net'),
    clock,
    onMessages: (msgs) => raft.receive(msgs),
    onSnapshotSent: (to, ok) => raft.snapshotSent(to, ok),
    onPeerState: (peer, up) => raft.peerLink(peer, up),
  });
  return { broker, transport, listenAddress: `${listening.host}:${listening.port}` };
}

type Joined = { identity: Identity; bundle: ManagerBundle };

/** A manager started with --join on an empty data dir joins; otherwise nothing happens. */
async function joinIfAsked(
  opts: ManagerOptions,
  store: Store,
  storage: RaftStorage,
  address: string,
): Promise<Joined | undefined> {
  if (!opts.join || store.cluster() || storage.load().hardState.term > 0) return undefined;
  const r = await joinWithReply({
    managers: opts.join.managers,
    token: opts.join.token,
    name: opts.name ?? defaultManagerName(opts.host),
    address: opts.host,
    platform: { os: process.platform, arch: boardArch() },
    labels: {},
    insecure: opts.insecure === true,
    managerAddress: address,
  });
  if (r.identity.role !== 'manager' || !r.managerBundle)
    throw new Error('the token given with --join is not a manager token');
  const bundle = openBundle(r.managerBundle, r.identity.keys.box.secretKey);
  await saveManagerIdentity(opts.dataDir, r.identity);
  await writeFileAtomic(
    path.join(opts.dataDir, 'manager.json'),
    JSON.stringify({ id: r.identity.id }) + '\n',
  );
  await writeFileAtomic(
    path.join(opts.dataDir, DATA_KEY_FILE),
    Buffer.from(bundle.dataKey).toString('base64') + '\n',
    0o600,
  );
  return { identity: r.identity, bundle };
}

async function ensureAdminIdentity(
  dataDir: string,
  cluster: NonNullable<ReturnType<Store['cluster']>>,
  address: string,
  clock: Clock,
): Promise<string> {
  const file = path.join(dataDir, 'admin-identity.json');
  if ((await readJsonFile(file)) === undefined)
    await writeAdminIdentity(dataDir, cluster, address, clock.now());
  return file;
}

async function managerId(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'manager.json');
  const raw = await readJsonFile(file);
  if (raw && typeof raw === 'object' && 'id' in raw && typeof raw.id === 'string') return raw.id;
  const id = `mgr-${randomId()}`;
  await writeFileAtomic(file, JSON.stringify({ id }) + '\n');
  return id;
}

/** The Raft host starts before the broker it sends through exists: messages wait for nothing. */
class LateTransport implements PeerTransport {
  private target: PeerTransport | undefined;
  private peers: ReadonlyMap<string, string> = new Map();

  bind(t: PeerTransport): void {
    this.target = t;
    t.setPeers(this.peers);
  }
  send(msgs: Parameters<PeerTransport['send']>[0]): void {
    this.target?.send(msgs);
  }
  setPeers(peers: ReadonlyMap<string, string>): void {
    this.peers = peers;
    this.target?.setPeers(peers);
  }
  connected(id: string): boolean {
    return this.target?.connected(id) ?? false;
  }
}
