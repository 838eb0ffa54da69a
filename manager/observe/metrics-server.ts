// Serves the manager's metrics over HTTP at /metrics (--metrics-addr), in the Prometheus text format.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';

export interface MetricsServer {
  /** HOST:PORT it listens on (the port the system chose when asked for 0). */
  address: string;
  /**
   * Starts answering with this registry; until then /metrics answers 503. With `allow`, a
   * scrape must carry `Authorization: Bearer TOKEN` that it accepts (else 401).
   */
  serve(registry: Registry, allow?: (token: string) => boolean): void;
  close(): Promise<void>;
}

export async function serveMetrics(
  at: { host: string; port: number },
  logger: Logger,
): Promise<MetricsServer> {
  let registry: Registry | undefined;
  let allow: ((token: string) => boolean) | undefined;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end('only GET\n');
      return;
    }
    if (url.pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (allow && !(token !== undefined && allow(token))) {
      res
        .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' })
        .end('a bearer token is needed (fleet dashboard token)\n');
      return;
    }
    if (!registry) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('the manager is starting\n');
      return;
    }
    const { contentType } = registry;
    registry
      .metrics()
      .then((text) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      })
      .catch((e: unknown) => {
        logger.warn('metrics could not be collected', { error: String(e) });
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(e)}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new Error(`cannot serve metrics on ${at.host}:${at.port}: ${errorMessage(e)}`)),
    );
    server.listen(at.port, at.host, () => {
      server.removeAllListeners('error');
      server.on('error', (e) => logger.warn('metrics server error', { error: String(e) }));
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    address: `${host}:${a.port}`,
    serve: (r, a) => {
      registry = r;
      allow = a;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
