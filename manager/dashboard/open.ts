// Opens the dashboard's listener at a manager's start: a certificate for its host from the cluster's CA, written beside the data.
import path from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { makeCaCertificate, makeListenerCertificate } from '../bootstrap/tls.js';
import { listenDashboard, type DashboardServer } from './server.js';

/** The cluster CA's certificate, for a browser or Prometheus to trust the dashboard and /metrics. */
export const DASHBOARD_CA_FILE = 'dashboard-ca.pem';

export async function openDashboard(
  at: { host: string; port: number },
  c: {
    dataDir: string;
    cluster: { rootPub: string; rootSecret: string };
    clock: Clock;
    logger: Logger;
  },
): Promise<DashboardServer> {
  const now = c.clock.now();
  const tls = makeListenerCertificate(at.host, c.cluster.rootSecret, now);
  const caPem = makeCaCertificate(c.cluster.rootPub, c.cluster.rootSecret, now);
  await writeFileAtomic(path.join(c.dataDir, DASHBOARD_CA_FILE), caPem);
  return listenDashboard(at, { certPem: tls.certPem + caPem, keyPem: tls.keyPem }, c.logger);
}
