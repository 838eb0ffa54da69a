// Loopback backends and clients for the ingress forwarder tests and benchmark.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { PortForwarder, type ForwarderOptions } from '../../agent/ingress/forwarder.js';
import { silentLogger } from '../../shared/log.js';
import { freePort } from './cluster.js';

export interface HttpBackend {
  name: string;
  host: string;
  port: number;
  server: http.Server;
  close: () => Promise<void>;
}

/** An HTTP server answering with its name in an x-backend header; handler overrides per request. */
export async function httpBackend(
  name: string,
  host: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<HttpBackend> {
  const server = http.createServer((req, res) => {
    res.setHeader('x-backend', name);
    if (handler) return handler(req, res);
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as net.AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { name, host, port, server, close };
}

export interface Reply {
  status: number;
  backend: string;
  bytes: number;
}

/** One request on a fresh connection (no keep-alive), so each goes through a new forwarding. */
export function get(port: number, path = '/', host = '127.0.0.1'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, backend: String(res.headers['x-backend']), bytes }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** A forwarder on 127.0.0.1 and a free port, silent unless told otherwise. */
export async function startForwarder(
  opts: Partial<ForwarderOptions> & Pick<ForwarderOptions, 'protocol'>,
): Promise<PortForwarder> {
  const fw = new PortForwarder({
    bindHost: '127.0.0.1',
    port: await freePort(),
    logger: silentLogger,
    ...opts,
  });
  await fw.start();
  return fw;
}

/** A UDP server on host that answers each datagram with "<name>:<datagram>". */
export async function udpEcho(
  name: string,
  host: string,
): Promise<{ port: number; close(): void }> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, r) =>
    sock.send(Buffer.concat([Buffer.from(`${name}:`), msg]), r.port, r.address),
  );
  await new Promise<void>((r) => sock.bind(0, host, r));
  return { port: sock.address().port, close: () => sock.close() };
}

/** A TCP port on host that nothing listens on (bound, then closed), so connects are refused. */
export async function refusedPort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A client socket on 127.0.0.1 whose exchange() sends its name n times, one reply awaited each. */
export async function udpClient(
  name: string,
  port: number,
): Promise<{ sock: dgram.Socket; exchange(n: number): Promise<string[]> }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const exchange = async (n: number): Promise<string[]> => {
    const got: string[] = [];
    for (let i = 0; i < n; i++) {
      const reply = new Promise<Buffer>((r) => sock.once('message', r));
      sock.send(name, port, '127.0.0.1');
      got.push((await reply).toString());
    }
    return got;
  };
  return { sock, exchange };
}

/** A raw TCP server on host (half-open allowed); socket errors are ignored, close() ends all. */
export async function tcpServer(
  host: string,
  onSocket: (s: net.Socket) => void,
): Promise<{ port: number; close: () => Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as net.AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    });
  return { port, close };
}
