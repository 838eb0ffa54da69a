// A manager process: store, Raft, embedded broker, API and the leader's controllers, wired together.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { joinWithReply } from '../shared/join-client.js';
import { readJsonFile, writeFileAtomic } from '../shared/atomic-file.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { randomId, type Identity } from '../shared/identity.js';
import { createLogger, type Logger } from '../shared/log.js';
import { openBundle, serveJoins, type ManagerBundle } from './api/join.js';
import { serveRenewals } from './api/renew.js';
import { serveRpc } from './api/rpc-server.js';
import type { RaftView } from './api/views.js';
import { Broker } from './broker/broker.js';
import {
  DEFAULT_HEARTBEAT_MS,
  NODE_CERT_LIFETIME_MS,
  newCluster,
  writeAdminIdentity,
} from './cluster.js';
import { DATA_KEY_FILE, loadOrCreateDataKey } from './data-key.js';
import type { Propose } from './controller.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { IngressPublisher } from './ingress/publisher.js';
import { IngressStats } from './ingress/stats.js';
import { Leadership } from './leadership.js';
import {
  issueManagerIdentity,
  loadManagerIdentity,
  managerNodeRecord,
  saveManagerIdentity,
  boardArch,
  certSerial,
  defaultManagerName,
} from './manager-node.js';
import { Orchestrator } from './orchestrator/orchestrator.js';
import { prepareRaftLog } from './raft/bootstrap.js';
import { encodeMemberContext } from './raft/entries.js';
import { RaftHost, type PeerTransport, type RaftTiming } from './raft/host.js';
import { RaftStorage } from './raft/storage.js';
import { RaftTransport } from './raft/transport.js';
import { Scheduler } from './scheduler/scheduler.js';
import { Updater } from './updater/updater.js';
import { retryOnConflict } from './store/conflict.js';
import { Store } from './store/store.js';
import { loadOrMakeTls } from './tls.js';

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
}

export interface StartReport {
  created: boolean;
  joined: boolean;
  address: string;
  workerToken: string;
  managerToken: string;
  adminIdentity: string;
  insecure: boolean;
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
      const start = prepareRaftLog({
        storage,
        store,
        id,
        address,
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
        const cluster = newCluster(clock.now(), opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
        await raft.propose({ commands: [{ type: 'cluster.init', cluster }] });
      }
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
      const broker = new Broker(store, logger.child('broker'), clock, {
        joiningCluster: joined?.bundle.cluster,
      });
      const tls = opts.insecure
        ? undefined
        : await loadOrMakeTls(opts.dataDir, cluster, opts.host, clock.now());
      const listening = await broker.start(opts.host, opts.port, tls);
      const listenAddress = `${listening.host}:${listening.port}`;
      const transport = new RaftTransport({
        selfId: id,
        broker,
        identity,
        rootPub: cluster.rootPub,
        insecure: opts.insecure === true,
        logger: logger.child('raft-net'),
        onMessages: (msgs) => raft.receive(msgs),
        onSnapshotSent: (to, ok) => raft.snapshotSent(to, ok),
        onPeerState: (peer, up) => raft.peerLink(peer, up),
      });
      link.bind(transport);
      raft.refreshPeers();
      const adminIdentity = await ensureAdminIdentity(opts.dataDir, cluster, listenAddress, clock);
      const created = start === 'new-cluster';
      const parts = wire({
        opts,
        id,
        identity,
        store,
        broker,
        raft,
        transport,
        clock,
        logger,
        dataKey,
        address: listenAddress,
        singleManagerRestart: start === 'existing',
      });
      const insecure = opts.insecure === true;
      logger.info('manager started', { id, address: listenAddress, cluster: cluster.id, start });
      const report: StartReport = {
        created,
        joined: joined !== undefined,
        address: listenAddress,
        workerToken: cluster.workerToken,
        managerToken: cluster.managerToken,
        adminIdentity,
        insecure,
      };
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

  async stop(): Promise<void> {
    for (const p of this.parts) p.stop();
    this.raft.stop();
    await this.transport.close();
    await this.broker.close();
    this.raft.close();
    this.store.close();
  }
}

interface WireDeps {
  opts: ManagerOptions;
  id: string;
  identity: Identity;
  store: Store;
  broker: Broker;
  raft: RaftHost;
  transport: RaftTransport;
  clock: Clock;
  logger: Logger;
  dataKey: Uint8Array;
  address: string;
  singleManagerRestart: boolean;
}

/** Builds the API and the leader-only parts around the running Raft host. */
function wire(w: WireDeps): { stop(): void }[] {
  const { store, broker, raft, clock, logger, dataKey } = w;
  const propose: Propose = (p) => raft.propose(p);
  const deps = { store, propose, broker, clock };
  const heartbeatMs = w.opts.heartbeatMs ?? store.cluster()?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const dispatcher = new Dispatcher({
    ...deps,
    logger: logger.child('dispatcher'),
    heartbeatMs,
    dataKey,
  });
  dispatcher.attach();
  const ingressStats = new IngressStats(store, {
    logger: logger.child('ingress-stats'),
    now: () => clock.now(),
  });
  ingressStats.attach(broker);
  const orchestrator = new Orchestrator({ ...deps, logger: logger.child('orchestrator') });
  const scheduler = new Scheduler({ ...deps, logger: logger.child('scheduler') });
  const updater = new Updater({ ...deps, logger: logger.child('updater') });
  const ownRecord = {
    start: () => ensureOwnRecord(w, propose),
    stop: () => undefined,
  };
  const leadership = new Leadership({
    id: w.id,
    host: raft,
    store,
    broker,
    logger: logger.child('leadership'),
    parts: [
      ownRecord,
      {
        // After a lone manager restarts nobody has been heard yet; after a failover the
        // previous leader heard them a moment ago.
        start: () => dispatcher.start({ markUnknown: raft.status().conf.voters.length <= 1 }),
        stop: () => dispatcher.stop(),
      },
      orchestrator,
      updater,
      scheduler,
      new IngressPublisher(store, broker, logger.child('ingress')),
      ingressStats,
    ],
  });
  const certLifetimeMs = w.opts.certLifetimeMs ?? NODE_CERT_LIFETIME_MS;
  serveJoins({
    ...deps,
    logger: logger.child('join'),
    certLifetimeMs,
    dataKey,
    leaderAddress: () => leadership.leaderAddress(),
    addManager: (id, address) =>
      raft.changeMembership({ op: 'add-learner', id, context: encodeMemberContext(address) }),
  });
  serveRenewals({ ...deps, logger: logger.child('renew'), certLifetimeMs });
  serveRpc({
    ...deps,
    logger: logger.child('api'),
    managerId: w.id,
    dataKey,
    gate: leadership,
    raft: raftView(w),
    ingressStats,
    afterWrite: (method, result) => {
      if (method === 'node.rm') {
        const nodeId = (result as { id: string }).id;
        dispatcher.forgetNode(nodeId);
        broker.disconnectIdentity(nodeId);
      }
    },
  });
  leadership.start();
  const parts: { stop(): void }[] = [leadership];
  if (w.opts.faultInjection) parts.push(watchPartitionFile(w));
  return parts;
}

/**
 * Test-only fault injection (--fault-injection): the ids of managers listed in DIR/partition,
 * one per line, are cut off from this one until the file is emptied or removed.
 */
function watchPartitionFile(w: WireDeps): { stop(): void } {
  const file = path.join(w.opts.dataDir, 'partition');
  let last = '';
  const timer = setInterval(() => {
    fs.readFile(file, 'utf8')
      .catch(() => '')
      .then((text) => {
        if (text === last) return;
        last = text;
        const ids = text.split(/\s+/).filter(Boolean);
        w.transport.setPartition(ids);
        w.logger.warn('fault injection: partitioned from managers', { ids });
      })
      .catch(() => undefined);
  }, 100);
  return { stop: () => clearInterval(timer) };
}

function raftView(w: WireDeps): RaftView {
  const { raft, transport, store, id: self } = w;
  return {
    get leaderId() {
      return raft.leaderId;
    },
    raftRole(id) {
      const { voters, learners } = raft.status().conf;
      return voters.includes(id) ? 'voter' : learners.includes(id) ? 'learner' : 'none';
    },
    reachable: (id) => id === self || transport.connected(id),
    appliedIndex: (id) =>
      id === self ? store.appliedIndex : (raft.status().progress?.[id]?.match ?? null),
  };
}

/** The leader keeps this manager's own node record current (address, certificate). */
async function ensureOwnRecord(w: WireDeps, propose: Propose): Promise<void> {
  const host = w.address.replace(/:\d+$/, '');
  await retryOnConflict(async () => {
    const prev = w.store.node(w.id);
    if (prev?.manager?.address === w.address && prev.certSerial === certSerial(w.identity)) return;
    const name = w.opts.name ?? defaultManagerName(host);
    const node = managerNodeRecord(w.identity, name, host, w.address, w.clock.now(), prev);
    await propose({ commands: [{ type: 'node.put', node }] });
  }).catch((e: unknown) => {
    w.logger.warn('could not record this manager as a node', { error: String(e) });
  });
}

/** A manager started with --join on an empty data dir joins; otherwise nothing happens. */
async function joinIfAsked(
  opts: ManagerOptions,
  store: Store,
  storage: RaftStorage,
  address: string,
): Promise<{ identity: Identity; bundle: ManagerBundle } | undefined> {
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
