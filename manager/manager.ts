// A manager process: store, embedded broker, API and the leader's controllers, wired together.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../shared/atomic-file.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { randomId } from '../shared/identity.js';
import { createLogger, type Logger } from '../shared/log.js';
import { serveJoins } from './api/join.js';
import { serveRenewals } from './api/renew.js';
import { serveRpc } from './api/rpc-server.js';
import { Broker } from './broker/broker.js';
import {
  DEFAULT_HEARTBEAT_MS,
  NODE_CERT_LIFETIME_MS,
  newCluster,
  writeAdminIdentity,
} from './cluster.js';
import { loadOrCreateDataKey } from './data-key.js';
import type { Propose } from './controller.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { Orchestrator } from './orchestrator/orchestrator.js';
import { Scheduler } from './scheduler/scheduler.js';
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
}

export interface StartReport {
  created: boolean;
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
    readonly address: string,
    readonly report: StartReport,
    private readonly parts: { stop(): void }[],
  ) {}

  static async start(opts: ManagerOptions): Promise<Manager> {
    const clock = opts.clock ?? systemClock;
    const logger = opts.logger ?? createLogger('manager');
    await fs.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    const id = await managerId(opts.dataDir);
    const dataKey = await loadOrCreateDataKey(opts.dataDir);
    const store = new Store(path.join(opts.dataDir, 'state.db'));
    const propose: Propose = async (p) => store.apply(p);
    let created = false;
    if (!store.cluster()) {
      await propose({
        commands: [
          {
            type: 'cluster.init',
            cluster: newCluster(clock.now(), opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS),
          },
        ],
      });
      created = true;
    }
    const cluster = store.cluster();
    if (!cluster) throw new Error('invariant: cluster missing after init');
    const heartbeatMs = opts.heartbeatMs ?? cluster.heartbeatMs;
    const broker = new Broker(store, logger.child('broker'), clock);
    let listening: { host: string; port: number };
    try {
      const tls = opts.insecure
        ? undefined
        : await loadOrMakeTls(opts.dataDir, cluster, opts.host, clock.now());
      listening = await broker.start(opts.host, opts.port, tls);
    } catch (e) {
      store.close();
      throw e;
    }
    const address = `${listening.host}:${listening.port}`;
    const identityFile = path.join(opts.dataDir, 'admin-identity.json');
    if (created || (await readJsonFile(identityFile)) === undefined) {
      await writeAdminIdentity(opts.dataDir, cluster, address, clock.now());
    }
    const deps = { store, propose, broker, clock };
    const dispatcher = new Dispatcher({
      ...deps,
      logger: logger.child('dispatcher'),
      heartbeatMs,
      dataKey,
    });
    const certLifetimeMs = opts.certLifetimeMs ?? NODE_CERT_LIFETIME_MS;
    serveJoins({ ...deps, logger: logger.child('join'), certLifetimeMs });
    serveRenewals({ ...deps, logger: logger.child('renew'), certLifetimeMs });
    serveRpc({
      ...deps,
      logger: logger.child('api'),
      managerId: id,
      dataKey,
      afterWrite: (method, result) => {
        if (method === 'node.rm') {
          const nodeId = (result as { id: string }).id;
          dispatcher.forgetNode(nodeId);
          broker.disconnectIdentity(nodeId);
        }
      },
    });
    await dispatcher.start();
    const orchestrator = new Orchestrator({ ...deps, logger: logger.child('orchestrator') });
    const scheduler = new Scheduler({ ...deps, logger: logger.child('scheduler') });
    orchestrator.start();
    scheduler.start();
    const insecure = opts.insecure === true;
    logger.info('manager started', { id, address, cluster: cluster.id, created, insecure });
    const report: StartReport = {
      created,
      address,
      workerToken: cluster.workerToken,
      managerToken: cluster.managerToken,
      adminIdentity: identityFile,
      insecure,
    };
    return new Manager(id, store, broker, address, report, [orchestrator, scheduler, dispatcher]);
  }

  async stop(): Promise<void> {
    for (const p of this.parts) p.stop();
    await this.broker.close();
    this.store.close();
  }
}

async function managerId(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'manager.json');
  const raw = await readJsonFile(file);
  if (raw && typeof raw === 'object' && 'id' in raw && typeof raw.id === 'string') return raw.id;
  const id = `mgr-${randomId()}`;
  await writeFileAtomic(file, JSON.stringify({ id }) + '\n');
  return id;
}
