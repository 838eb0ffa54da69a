// The dashboard's HTTPS server: the built page and its files, the API behind sign-in, security headers.
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { json, routeApi, type RouteDeps } from './routes.js';

export interface DashboardServer {
  /** HOST:PORT it listens on (the port the system chose when asked for 0). */
  address: string;
  /** Starts answering; until then every request gets 503. */
  serve(deps: RouteDeps): void;
  close(): Promise<void>;
}

/** Where bin/bundle-dashboard.js writes the page's files (dist/dashboard). */
export const WEB_DIR = path.resolve(import.meta.dirname, '../../dashboard');

const FILES: Record<string, string> = {
  '/app.js': 'text/javascript; charset=utf-8',
  '/app.css': 'text/css; charset=utf-8',
};

const HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
};

export async function listenDashboard(
  at: { host: string; port: number },
  tls: { certPem: string; keyPem: string },
  logger: Logger,
): Promise<DashboardServer> {
  let deps: RouteDeps | undefined;
  const files = await loadFiles(logger);
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v);
    if (!deps) return json(res, 503, { error: 'the manager is starting' });
    handle(deps, files, req, res).catch((e: unknown) => {
      logger.warn('dashboard request failed', { url: req.url, error: errorMessage(e) });
      if (!res.headersSent) json(res, 500, { error: errorMessage(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new Error(`cannot serve the dashboard on ${at.host}:${at.port}: ${errorMessage(e)}`)),
    );
    server.listen(at.port, at.host, () => {
      server.removeAllListeners('error');
      server.on('error', (e) => logger.warn('dashboard server error', { error: String(e) }));
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    address: `${host}:${a.port}`,
    serve: (d) => {
      deps = d;
    },
    close: () =>
      new Promise((resolve) => {
        deps?.feed.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  deps: RouteDeps,
  files: Map<string, Buffer>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://dashboard');
  if (await routeApi(deps, req, res, url)) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const type = url.pathname === '/' ? 'text/html; charset=utf-8' : FILES[url.pathname];
  const name = url.pathname === '/' ? '/index.html' : url.pathname;
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = files.get(gzip ? `${name}.gz` : name);
  if (!type || !body) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const encoding = gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {};
  res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache', ...encoding });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The built files, read once and kept plain and gzipped; a checkout that never built them gets
 * a page that says how.
 */
async function loadFiles(logger: Logger): Promise<Map<string, Buffer>> {
  const plain = await readFiles(logger);
  const out = new Map(plain);
  for (const [name, body] of plain) out.set(`${name}.gz`, gzipSync(body, { level: 9 }));
  return out;
}

async function readFiles(logger: Logger): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  try {
    for (const name of Object.keys(FILES))
      out.set(name, await readFile(path.join(WEB_DIR, name.slice(1))));
    out.set('/index.html', Buffer.from(INDEX_HTML));
  } catch (e) {
    logger.warn('the dashboard page is not built', { error: errorMessage(e) });
    out.set('/index.html', Buffer.from(NOT_BUILT_HTML));
  }
  return out;
}

const INDEX_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleet</title><link rel="stylesheet" href="/app.css"></head>
<body><div id="app"></div><script type="module" src="/app.js"></script></body></html>
`;

const NOT_BUILT_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fleet</title></head>
<body><p>The dashboard's page was not built: run <code>node bin/bundle-dashboard.js</code>
(or <code>npm run build</code>) and restart the manager.</p></body></html>
`;
