// Builds the API and the leader-only parts around a manager's running Raft host.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../shared/clock.js';
import type { Identity } from '../shared/identity.js';
import type { Logger } from '../shared/log.js';
import { serveJoins } from './api/join.js';
import { serveRenewals } from './api/renew.js';
import { serveRpc, type LocalApi } from './api/rpc-server.js';
import type { RaftView } from './api/views.js';
import type { Broker } from './broker/broker.js';
import { DEFAULT_HEARTBEAT_MS, NODE_CERT_LIFETIME_MS } from './bootstrap/cluster.js';
import type { LeaderPart, Propose } from './leader/controller.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { BundleAdopter } from './dispatcher/bundle-adopter.js';
import { IngressPublisher } from './ingress/publisher.js';
import { DiscoveryPublisher } from './network/publisher.js';
import { IngressStats } from './ingress/stats.js';
import type { BlobService } from './images/blob-service.js';
import { ImagePresence } from './images/presence.js';
import { BlobReplicator } from './images/replicator.js';
import { Leadership } from './leader/leadership.js';
import type { ManagerOptions } from './manager.js';
import { certSerial, defaultManagerName, managerNodeRecord } from './bootstrap/manager-node.js';
import { MembershipController } from './leader/membership.js';
import { Orchestrator } from './orchestrator/orchestrator.js';
import { encodeMemberContext } from './raft/entries.js';
import type { RaftHost } from './raft/host.js';
import type { RaftTransport } from './raft/transport.js';
import { Scheduler } from './scheduler/scheduler.js';
import { retryOnConflict } from './store/conflict.js';
import type { Store } from './store/store.js';
import { Updater } from './updater/updater.js';
import { Upgrader } from './upgrader/upgrader.js';
import { raftHealth } from './upgrader/raft-health.js';
import { createManagerMetrics, type ManagerMetrics } from './observe/metrics.js';
import { DEFAULT_STATS_MS, UsageBook, type UsageBookView } from './observe/usage-book.js';
import { eventParts } from './events/parts.js';
import { startLogRelay, type LogRelay } from './logs/relay.js';
import { serveChaos } from './chaos/serve-chaos.js';

export interface WireDeps {
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
  blobs: BlobService;
}

interface LeaderParts {
  /** Started in this order on the leader, stopped in reverse. */
  parts: LeaderPart[];
  dispatcher: Dispatcher;
  ingressStats: IngressStats;
  imagePresence: ImagePresence;
  usage: UsageBook;
}

/**
 * The leader-only parts. The controllers, the dispatcher and the publishers read the store
 * through its view and write only through `propose`.
 */
function leaderParts(w: WireDeps, propose: Propose): LeaderParts {
  const { store, broker, raft, clock, logger, dataKey } = w;
  const deps = { store, propose, clock };
  const heartbeatMs = w.opts.heartbeatMs ?? store.cluster()?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const imagePresence = new ImagePresence();
  const statsMs = w.opts.statsMs ?? DEFAULT_STATS_MS;
  // A summary a few periods old says nothing of now: it is no longer shown.
  const usage = new UsageBook(clock, 3 * Math.max(statsMs, heartbeatMs));
  const dispatcher = new Dispatcher({
    imagePresence,
    statsMs,
    usage,
    ...deps,
    broker,
    logger: logger.child('dispatcher'),
    heartbeatMs,
    dataKey,
    // After a lone manager restarts nobody has been heard yet; after a failover the previous
    // leader heard them a moment ago.
    markUnknownOnStart: () => raft.status().conf.voters.length <= 1,
  });
  dispatcher.attach();
  const ingressStats = new IngressStats(store, { logger: logger.child('ingress-stats'), clock });
  ingressStats.attach(broker);
  const ownRecord: LeaderPart = {
    start: () => ensureOwnRecord(w, propose),
    stop: () => undefined,
  };
  const parts: LeaderPart[] = [
    // First: every write of the parts after it is seen and becomes its events.
    ...eventParts({ ...deps, logger: logger.child('events'), self: w.id }),
    ownRecord,
    dispatcher,
    new BundleAdopter({ ...deps, broker, logger: logger.child('bundles') }),
    new Orchestrator({ ...deps, logger: logger.child('orchestrator') }),
    new Updater({ ...deps, logger: logger.child('updater') }, imagePresence),
    new Upgrader({ ...deps, logger: logger.child('upgrader') }, w.id, () =>
      raftHealth(raftView(w), raft.status().conf.voters, store.appliedIndex),
    ),
    new Scheduler({ ...deps, logger: logger.child('scheduler') }),
    new IngressPublisher({ store, broker, logger: logger.child('ingress'), clock }),
    new DiscoveryPublisher({ store, broker, logger: logger.child('discovery'), clock }),
    ingressStats,
    // Last: it changes the Raft group only once everything else runs.
    new MembershipController({
      self: w.id,
      host: raft,
      store,
      logger: logger.child('leadership'),
      clock,
    }),
  ];
  return { parts, dispatcher, ingressStats, imagePresence, usage };
}

/** What the dashboard reads besides the store: the API's methods and the leader's live figures. */
export interface LiveParts {
  api: LocalApi;
  usage: () => UsageBookView | undefined;
  heartbeatAge: (nodeId: string) => number | undefined;
}

export interface Wired {
  parts: { stop(): void }[];
  metrics: ManagerMetrics;
  live: LiveParts;
  /** Relays followed logs; the dashboard's log tail follows through it too. */
  logs: LogRelay;
}

/** Builds the API and the leader-only parts around the running Raft host. */
export function wire(w: WireDeps): Wired {
  const { store, broker, raft, clock, logger, dataKey } = w;
  // The dispatcher is made with the proposer the metrics time, so it is known only after.
  const made: { dispatcher?: Dispatcher; usage?: UsageBook; logs?: LogRelay } = {};
  const metrics = managerMetrics(
    w,
    (id) => made.dispatcher?.heartbeatAge(id),
    () => made.usage,
    () => made.logs?.bytesIn ?? 0,
  );
  const propose: Propose = (p) => {
    const t0 = clock.now();
    const done = (): void => metrics.observeProposal((clock.now() - t0) / 1000);
    const applied = raft.propose(p);
    applied.then(done, done);
    return applied;
  };
  const deps = { store, propose, broker, clock };
  const leaderMade = leaderParts(w, propose);
  const { parts: leaderOnly, dispatcher, ingressStats, imagePresence, usage } = leaderMade;
  made.dispatcher = dispatcher;
  made.usage = usage;
  const leadership = new Leadership({
    id: w.id,
    host: raft,
    store,
    broker,
    logger: logger.child('leadership'),
    parts: leaderOnly,
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
  const chaos = serveChaos(w, (id) => made.dispatcher?.heartbeatAge(id));
  const api = serveRpc({
    local: chaos.local,
    ...deps,
    logger: logger.child('api'),
    managerId: w.id,
    dataKey,
    gate: leadership,
    raft: raftView(w),
    ingressStats,
    blobs: w.blobs,
    imagePresence,
    usage,
    afterWrite: (method, result) => {
      if (method === 'node.rm') {
        const nodeId = (result as { id: string }).id;
        dispatcher.forgetNode(nodeId);
        broker.disconnectIdentity(nodeId);
      }
    },
  });
  leadership.start();
  const replicator = new BlobReplicator({
    selfId: w.id,
    identity: w.identity,
    rootPub: w.identity.rootPub,
    insecure: w.opts.insecure === true,
    store,
    blobs: w.blobs,
    clock,
    logger: logger.child('blob-copy'),
  });
  replicator.start();
  const logs = (made.logs = startLogRelay({ store, broker, clock, logger }, leadership));
  const parts: { stop(): void }[] = [chaos, leadership, replicator, w.blobs, logs];
  if (w.opts.faultInjection) parts.push(watchPartitionFile(w));
  return { parts, metrics, live: liveParts(api, leadership, leaderMade), logs };
}

/** The leader's usage figures and heartbeat ages are shown only while this manager leads. */
function liveParts(api: LocalApi, leadership: Leadership, made: LeaderParts): LiveParts {
  return {
    api,
    usage: () => (leadership.isLeader() ? made.usage : undefined),
    heartbeatAge: (id) => made.dispatcher.heartbeatAge(id),
  };
}

/** The metrics of this manager's parts; the leader's dispatcher adds heartbeat ages. */
function managerMetrics(
  w: WireDeps,
  heartbeatAgeMs: (nodeId: string) => number | undefined,
  usage: () => UsageBook | undefined,
  logBytesIn: () => number,
): ManagerMetrics {
  const { raft, store, broker } = w;
  const metrics = createManagerMetrics({
    managerId: w.id,
    raft: () => raft.status(),
    appliedIndex: () => store.appliedIndex,
    broker: () => ({ clients: broker.connectedClients, ...broker.counters }),
    nodes: () => store.nodes(),
    tasks: () => store.tasks(),
    services: () => [...store.services()].length,
    heartbeatAgeMs,
    usage,
    logBytesIn,
    task: (id) => store.task(id),
  });
  let leader = raft.leaderId;
  raft.on('role', () => {
    if (raft.leaderId !== leader && raft.leaderId !== null) metrics.leaderChanged();
    leader = raft.leaderId;
  });
  return metrics;
}

/**
 * Test-only fault injection (--fault-injection): the ids of managers listed in DIR/partition,
 * one per line, are cut off from this one until the file is emptied or removed.
 */
function watchPartitionFile(w: WireDeps): { stop(): void } {
  const file = path.join(w.opts.dataDir, 'partition');
  let last = '';
  const timer = w.clock.setInterval(() => {
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
  return { stop: () => w.clock.clearInterval(timer) };
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
    const worker = w.opts.worker === true;
    if (
      prev?.manager?.address === w.address &&
      prev.certSerial === certSerial(w.identity) &&
      (prev.manager.worker === true) === worker
    )
      return;
    const name = w.opts.name ?? defaultManagerName(host);
    const node = managerNodeRecord(w.identity, name, host, w.address, w.clock.now(), prev, worker);
    await propose({ commands: [{ type: 'node.put', node }] });
  }).catch((e: unknown) => {
    w.logger.warn('could not record this manager as a node', { error: String(e) });
  });
}
