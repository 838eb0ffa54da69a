// The ingress PortForwarder over real loopback sockets: balancing, failover, draining, UDP flows, PROXY headers, leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { PortForwarder } from '../../agent/ingress/forwarder.js';
import { decode } from '../../agent/ingress/proxy-protocol.js';
import { memoryLogger, silentLogger } from '../../shared/log.js';
import { waitFor } from '../helpers/wait.js';
import {
  get,
  httpBackend,
  refusedPort,
  startForwarder,
  tcpServer,
  udpClient,
  udpEcho,
  type HttpBackend,
} from '../helpers/ingress.js';

const be = (
  b: HttpBackend,
  local = false,
): { id: string; host: string; port: number; local: boolean } => ({
  id: b.name,
  host: b.host,
  port: b.port,
  local,
});

test('HTTP through the forwarder answers 200 and spreads across both backends', async (t) => {
  const a = await httpBackend('a', '127.0.0.2');
  const b = await httpBackend('b', '127.0.0.3');
  const fw = await startForwarder({ protocol: 'tcp' });
  t.after(() => Promise.all([fw.close(), a.close(), b.close()]));
  fw.setBackends([be(a), be(b)]);
  const seen = new Map<string, number>();
  for (let i = 0; i < 20; i++) {
    const r = await get(fw.stats().port);
    assert.equal(r.status, 200);
    seen.set(r.backend, (seen.get(r.backend) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['a', 'b']);
  const s = fw.stats();
  assert.equal(s.total, 20);
  assert.equal((s.backends.a?.total ?? 0) + (s.backends.b?.total ?? 0), 20);
});

test('local backends are preferred while any is present', async (t) => {
  const a = await httpBackend('a', '127.0.0.2');
  const b = await httpBackend('b', '127.0.0.3');
  const fw = await startForwarder({ protocol: 'tcp', balance: 'round-robin' });
  t.after(() => Promise.all([fw.close(), a.close(), b.close()]));
  fw.setBackends([be(a), be(b, true)]);
  for (let i = 0; i < 6; i++) assert.equal((await get(fw.stats().port)).backend, 'b');
  fw.setBackends([be(a)]);
  assert.equal((await get(fw.stats().port)).backend, 'a');
});

test('a backend refusing connections is skipped without the client noticing', async (t) => {
  const a = await httpBackend('a', '127.0.0.2');
  const dead = {
    id: 'dead',
    host: '127.0.0.3',
    port: await refusedPort('127.0.0.3'),
    local: false,
  };
  const logger = memoryLogger();
  const fw = await startForwarder({ protocol: 'tcp', balance: 'round-robin', logger });
  t.after(() => Promise.all([fw.close(), a.close()]));
  fw.setBackends([dead, be(a)]);
  for (let i = 0; i < 10; i++) {
    const r = await get(fw.stats().port);
    assert.equal(r.status, 200);
    assert.equal(r.backend, 'a');
  }
  const s = fw.stats();
  assert.ok((s.backends.dead?.errors ?? 0) >= 1);
  assert.equal(s.errors, 0);
  assert.ok(logger.lines.some((l) => l.includes('backend connect failed')));
});

test('a removed backend drains: its download completes, new connections go elsewhere', async (t) => {
  const size = 20 * 1024 * 1024;
  const chunk = Buffer.alloc(256 * 1024, 7);
  const a = await httpBackend('a', '127.0.0.2', (_req, res) => {
    let sent = 0;
    const tick = (): void => {
      if (sent >= size) return void res.end();
      sent += chunk.length;
      // Slow on purpose (about 1 s in all) and respecting backpressure.
      if (res.write(chunk)) setTimeout(tick, 10);
      else res.once('drain', () => setTimeout(tick, 10));
    };
    tick();
  });
  const b = await httpBackend('b', '127.0.0.3');
  const fw = await startForwarder({ protocol: 'tcp', drainMs: 60_000 });
  t.after(() => Promise.all([fw.close(), a.close(), b.close()]));
  fw.setBackends([be(a)]);
  const download = get(fw.stats().port, '/big');
  await waitFor(() => fw.stats().backends.a?.active === 1, { what: 'download in flight' });
  fw.setBackends([be(b)]);
  assert.equal(fw.stats().backends.a?.draining, true);
  for (let i = 0; i < 3; i++) assert.equal((await get(fw.stats().port)).backend, 'b');
  const r = await download;
  assert.equal(r.backend, 'a');
  assert.equal(r.bytes, size);
  await waitFor(() => fw.stats().backends.a === undefined, { what: 'drained backend forgotten' });
});

test('the drain deadline ends connections still open to a removed backend', async (t) => {
  const a = await httpBackend('a', '127.0.0.2', (_req, res) => res.write('never ends'));
  const fw = await startForwarder({ protocol: 'tcp', drainMs: 100 });
  t.after(() => Promise.all([fw.close(), a.close()]));
  fw.setBackends([be(a)]);
  const hung = get(fw.stats().port).catch((e: Error) => e);
  await waitFor(() => fw.stats().backends.a?.active === 1, { what: 'hung request in flight' });
  fw.setBackends([]);
  assert.ok((await hung) instanceof Error);
  await waitFor(() => fw.stats().active === 0, { what: 'connection cut' });
});

test('a half-close is passed on: the backend answers after the client has sent its FIN', async (t) => {
  // The backend only replies once it has read the end of the request, like a CGI or an rsh.
  const { port, close } = await tcpServer('127.0.0.2', (s) => {
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('end', () => s.end(text.toUpperCase()));
  });
  const fw = await startForwarder({ protocol: 'tcp' });
  t.after(() => Promise.all([fw.close(), close()]));
  fw.setBackends([{ id: 'h', host: '127.0.0.2', port, local: true }]);
  const sock = net.connect({ host: '127.0.0.1', port: fw.stats().port, allowHalfOpen: true });
  let reply = '';
  sock.on('data', (c: Buffer) => (reply += c.toString()));
  sock.end('hello');
  await new Promise((r) => sock.once('end', r));
  assert.equal(reply, 'HELLO');
  sock.destroy();
  await waitFor(() => fw.stats().active === 0, { what: 'connection closed' });
});

test('a backend reset mid-stream resets the client and counts an error', async (t) => {
  const { port, close } = await tcpServer('127.0.0.2', (s) => {
    s.write('partial', () => setTimeout(() => s.resetAndDestroy(), 20));
  });
  const fw = await startForwarder({ protocol: 'tcp' });
  t.after(() => Promise.all([fw.close(), close()]));
  fw.setBackends([{ id: 'r', host: '127.0.0.2', port, local: true }]);
  const sock = net.connect({ host: '127.0.0.1', port: fw.stats().port });
  let got = '';
  sock.on('data', (c: Buffer) => (got += c.toString()));
  const err = await new Promise<NodeJS.ErrnoException>((r) => sock.once('error', r));
  assert.equal(err.code, 'ECONNRESET');
  assert.equal(got, 'partial');
  await waitFor(() => fw.stats().active === 0, { what: 'connection closed' });
  assert.equal(fw.stats().errors, 1);
});

test('with no backends a connection is closed at once and counted', async (t) => {
  const fw = await startForwarder({ protocol: 'tcp' });
  t.after(() => fw.close());
  const sock = net.connect({ host: '127.0.0.1', port: fw.stats().port });
  sock.on('error', () => undefined);
  let got = 0;
  sock.on('data', (c: Buffer) => (got += c.length));
  await new Promise((r) => sock.once('close', r));
  assert.equal(got, 0);
  const s = fw.stats();
  assert.equal(s.total, 1);
  assert.equal(s.errors, 1);
  assert.equal(s.active, 0);
});

test('a port in use is reported as EADDRINUSE', async (t) => {
  const fw = await startForwarder({ protocol: 'tcp' });
  t.after(() => fw.close());
  for (const protocol of ['tcp', 'udp'] as const) {
    const other = new PortForwarder({
      bindHost: '127.0.0.1',
      port: fw.stats().port,
      protocol,
      logger: silentLogger,
    });
    if (protocol === 'udp') {
      const blocker = dgram.createSocket('udp4');
      await new Promise<void>((r) => blocker.bind(fw.stats().port, '127.0.0.1', r));
      t.after(() => blocker.close());
    }
    await assert.rejects(other.start(), /EADDRINUSE/);
  }
});

test('UDP echo through the forwarder returns to the right clients', async (t) => {
  const a = await udpEcho('a', '127.0.0.2');
  const b = await udpEcho('b', '127.0.0.3');
  const fw = await startForwarder({ protocol: 'udp', udpIdleMs: 200 });
  t.after(async () => {
    await fw.close();
    a.close();
    b.close();
  });
  fw.setBackends([
    { id: 'a', host: '127.0.0.2', port: a.port, local: false },
    { id: 'b', host: '127.0.0.3', port: b.port, local: false },
  ]);
  const clients = await Promise.all(['c1', 'c2'].map((name) => udpClient(name, fw.stats().port)));
  const replies = await Promise.all(clients.map((c) => c.exchange(5)));
  for (const [i, r] of replies.entries()) {
    const name = `c${i + 1}`;
    assert.equal(r.length, 5);
    assert.ok(
      r.every((m) => m.endsWith(`:${name}`)),
      `${name} got ${r.join(',')}`,
    );
    // A flow sticks to one backend.
    assert.equal(new Set(r.map((m) => m.split(':')[0])).size, 1);
  }
  // Least-conn puts the two concurrent flows on different backends.
  assert.notEqual(replies[0]?.[0]?.split(':')[0], replies[1]?.[0]?.split(':')[0]);
  for (const c of clients) c.sock.close();
  await waitFor(() => fw.stats().active === 0, { what: 'idle UDP flows ended' });
});

test('PROXY v1 and v2: the backend sees the real client address and port', async (t) => {
  // A backend that parses the header and answers with what it learned.
  const { port, close } = await tcpServer('127.0.0.2', (s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const h = decode(buf);
      if (h) s.end(JSON.stringify(h));
    });
  });
  t.after(close);
  for (const proxy of ['v1', 'v2'] as const) {
    const fw = await startForwarder({ protocol: 'tcp', proxy });
    t.after(() => fw.close());
    fw.setBackends([{ id: 'p', host: '127.0.0.2', port, local: true }]);
    const sock = net.connect({
      host: '127.0.0.1',
      port: fw.stats().port,
      localAddress: '127.0.0.9',
    });
    let text = '';
    sock.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise((r) => sock.once('end', r));
    const h = JSON.parse(text) as Record<string, unknown>;
    assert.equal(h.version, proxy === 'v1' ? 1 : 2);
    assert.equal(h.srcAddr, '127.0.0.9');
    assert.equal(h.srcPort, sock.localPort);
    assert.equal(h.dstAddr, '127.0.0.1');
    assert.equal(h.dstPort, fw.stats().port);
    sock.destroy();
  }
});

test('PROXY v2 over UDP: each datagram carries the client address', async (t) => {
  const backend = dgram.createSocket('udp4');
  backend.on('message', (msg, r) => {
    const h = decode(msg);
    const payload = msg.subarray(h?.length ?? 0).toString();
    backend.send(`${h?.srcAddr}:${h?.srcPort}:${payload}`, r.port, r.address);
  });
  await new Promise<void>((r) => backend.bind(0, '127.0.0.2', r));
  const fw = await startForwarder({ protocol: 'udp', proxy: 'v2' });
  t.after(async () => {
    await fw.close();
    backend.close();
  });
  fw.setBackends([{ id: 'u', host: '127.0.0.2', port: backend.address().port, local: true }]);
  const c = await udpClient('hi', fw.stats().port);
  t.after(() => c.sock.close());
  const replies = await c.exchange(2);
  for (const r of replies) assert.equal(r, `127.0.0.1:${c.sock.address().port}:hi`);
});

test('a flood of 2,000 short connections leaves no socket open', async (t) => {
  const a = await httpBackend('a', '127.0.0.2');
  const b = await httpBackend('b', '127.0.0.3');
  const fw = await startForwarder({ protocol: 'tcp' });
  t.after(() => Promise.all([fw.close(), a.close(), b.close()]));
  fw.setBackends([be(a), be(b)]);
  let next = 0;
  let ok = 0;
  const worker = async (): Promise<void> => {
    while (next++ < 2000) if ((await get(fw.stats().port)).status === 200) ok++;
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  assert.equal(ok, 2000);
  await waitFor(() => fw.stats().active === 0, { what: 'forwarder connections closed' });
  const open = (s: HttpBackend): Promise<number> =>
    new Promise((r, j) => s.server.getConnections((e, n) => (e ? j(e) : r(n))));
  await waitFor(async () => (await open(a)) + (await open(b)) === 0, {
    what: 'backend sockets closed',
  });
  const s = fw.stats();
  assert.equal(s.total, 2000);
  assert.equal(s.errors, 0);
  assert.equal((s.backends.a?.active ?? 0) + (s.backends.b?.active ?? 0), 0);
});
