// The manager's HTTP listeners for people and Prometheus: /metrics and the dashboard, opened early, served once wired.
import { checkDashboardToken } from '../../shared/dashboard-token.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { openDashboard } from '../dashboard/open.js';
import { startDashboard } from '../dashboard/start.js';
import type { DashboardSources } from '../dashboard/sources.js';
import type { ManagerOptions } from '../manager.js';
import type { Store } from '../store/store.js';
import type { LiveParts } from '../wiring.js';
import type { ManagerMetrics } from './metrics.js';
import { serveMetrics } from './metrics-server.js';

export interface WebListeners {
  /** Where each listens, for the start report. */
  addresses: { metricsAddress?: string; dashboardAddress?: string };
  /** Starts answering; returns what stops them. */
  serve(metrics: ManagerMetrics, live: LiveParts, sources?: DashboardSources): { stop(): void }[];
}

/** Listens before anything else starts, so a port in use stops the start cleanly. */
export async function openWebListeners(
  opts: ManagerOptions,
  c: {
    store: Store;
    clock: Clock;
    logger: Logger;
    cluster: { rootPub: string; rootSecret: string };
  },
): Promise<WebListeners> {
  const { store, clock, logger } = c;
  const metricsServer = opts.metricsAddr
    ? await serveMetrics(opts.metricsAddr, logger.child('metrics'))
    : undefined;
  const dashboardServer = opts.dashboardAddr
    ? await openDashboard(opts.dashboardAddr, {
        dataDir: opts.dataDir,
        cluster: c.cluster,
        clock,
        logger: logger.child('dashboard'),
      })
    : undefined;
  return {
    addresses: {
      ...(metricsServer ? { metricsAddress: metricsServer.address } : {}),
      ...(dashboardServer ? { dashboardAddress: dashboardServer.address } : {}),
    },
    serve(metrics, live, sources) {
      const parts: { stop(): void }[] = [];
      if (metricsServer) {
        // A dashboard token is a bearer token for /metrics too, read-only or not.
        const allow = (t: string): boolean =>
          checkDashboardToken(t, (id) => store.dashboardToken(id), clock.now()) !== null;
        metricsServer.serve(metrics.registry, opts.metricsAuth ? allow : undefined);
        parts.push({ stop: () => void metricsServer.close() });
      }
      if (dashboardServer) {
        const d = { store, live, clock, logger: logger.child('dashboard') };
        parts.push(startDashboard(dashboardServer, { ...d, ...(sources ? { sources } : {}) }));
      }
      return parts;
    },
  };
}
