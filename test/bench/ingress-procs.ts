// The processes of the ingress-forwarder benchmark: `backend PORT` (the HTTP server) and `forwarder PORT BACKEND_PORT`.
import http from 'node:http';
import { PortForwarder } from '../../agent/ingress/forwarder.js';
import { createLogger } from '../../shared/log.js';

export const HOSTS = { backend: '127.0.0.5', fleet: '127.0.0.6', haproxy: '127.0.0.7' };
const BODY = Buffer.alloc(1024, 'x');
/**
 * FLEET_BENCH_INGRESS_CLOSE=1: the backend closes the connection after each response (like the
 * busybox httpd of the ingress benchmark), so every request is a new connection on every path.
 */
const CLOSE = process.env.FLEET_BENCH_INGRESS_CLOSE === '1';

/** `backend PORT`: the HTTP server all three paths end at, a fixed 1 KB body. */
async function backendMode(port: number): Promise<void> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': BODY.length,
      ...(CLOSE ? { connection: 'close' } : {}),
    });
    res.end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(port, HOSTS.backend, r));
  console.log('ready');
}

/** `forwarder PORT BACKEND_PORT`: one PortForwarder in its own process, as an agent would run it. */
async function forwarderMode(port: number, backendPort: number): Promise<void> {
  const fw = new PortForwarder({
    bindHost: HOSTS.fleet,
    port,
    protocol: 'tcp',
    logger: createLogger('bench', { level: 'warn' }),
  });
  await fw.start();
  fw.setBackends([{ id: 'b', host: HOSTS.backend, port: backendPort, local: true }]);
  process.on('SIGTERM', () => {
    const s = fw.stats();
    console.error(`forwarder stats: total=${s.total} errors=${s.errors} active=${s.active}`);
    void fw.close().then(() => process.exit(0));
  });
  console.log('ready');
}

// Kept apart from the benchmark script so these processes load nothing else (no signal handlers).
const [mode, a1, a2] = process.argv.slice(2);
if (mode === 'backend') await backendMode(Number(a1));
else if (mode === 'forwarder') await forwarderMode(Number(a1), Number(a2));
