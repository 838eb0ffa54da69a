// End-to-end routing mesh on the real Docker engine for UDP services and PROXY protocol headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import Docker from 'dockerode';
import { cliOk } from '../helpers/cluster.js';
import { DOCKER_SOCKET, TEST_IMAGE, taskContainers } from '../helpers/docker.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { waitFor } from '../helpers/wait.js';

const NODES = [
  { name: 'udp-a', address: '127.0.0.5', labels: ['echo=yes'] },
  { name: 'udp-b', address: '127.0.0.6', labels: ['echo=yes'] },
  { name: 'udp-c', address: '127.0.0.7', labels: [] },
] as const;
/** A loopback address no node uses: the client's source, which the tasks must be told. */
const CLIENT_ADDR = '127.0.0.9';
const UDP_PORT = 9000;
const UDP_PROXY_PORT = 9001;
const PROXY_V2_PORT = 9100;
const PROXY_V1_PORT = 9101;
/** What proxy-echo listens on inside its container. */
const PROXY_TARGET = 7000;
const SERVICES = ['udpecho', 'udpproxied', 'proxied-v2', 'proxied-v1'];

const docker = new Docker({ socketPath: DOCKER_SOCKET });

type UdpAnswer = { ok: true; text: string } | { ok: false; error: string };

/** A UDP socket bound to a loopback address, for exchanges with the published port. */
class UdpClient {
  readonly sock = dgram.createSocket('udp4');
  private waiting: ((a: UdpAnswer) => void) | undefined;

  private constructor() {
    this.sock.on('message', (msg) => this.settle({ ok: true, text: msg.toString() }));
    // An ICMP refusal can surface on the socket; it is an answer of sorts, never a crash.
    this.sock.on('error', (e: NodeJS.ErrnoException) =>
      this.settle({ ok: false, error: e.code ?? e.message }),
    );
  }

  static async open(address = CLIENT_ADDR): Promise<UdpClient> {
    const c = new UdpClient();
    await new Promise<void>((r) => c.sock.bind(0, address, r));
    return c;
  }

  get port(): number {
    return this.sock.address().port;
  }

  /** Sends payload to host:port and resolves with the first answer, or a timeout. */
  exchange(host: string, payload: string, timeoutMs = 1_500, port = UDP_PORT): Promise<UdpAnswer> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle({ ok: false, error: 'timeout' }), timeoutMs);
      this.waiting = (a) => {
        clearTimeout(timer);
        resolve(a);
      };
      this.sock.send(payload, port, host);
    });
  }

  close(): void {
    this.sock.close();
  }

  private settle(a: UdpAnswer): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(a);
  }
}

/** One exchange on a fresh socket (a new flow); the answer's "<hostname> <payload>" split. */
async function udpOnce(host: string, payload: string, timeoutMs?: number): Promise<UdpAnswer> {
  const c = await UdpClient.open();
  try {
    return await c.exchange(host, payload, timeoutMs);
  } finally {
    c.close();
  }
}

/** The task hostname of an answer "<hostname> <payload>", checking the payload came back. */
function answeredBy(a: UdpAnswer, payload: string): string {
  assert.ok(a.ok, `no UDP answer: ${a.ok ? '' : a.error}`);
  const [host, ...rest] = a.text.split(' ');
  assert.equal(rest.join(' '), payload, `echoed payload in "${a.text}"`);
  assert.ok(host);
  return host;
}

interface TcpAnswer {
  text: string;
  localPort: number;
}

/** Connects from CLIENT_ADDR, sends a line of its own, reads proxy-echo's answer to the end. */
function proxyQuery(host: string, port: number, timeoutMs = 3_000): Promise<TcpAnswer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress: CLIENT_ADDR });
    // Without a header in front, proxy-echo decides on the client's first bytes.
    s.write('hello\n');
    let text = '';
    let localPort = 0;
    s.setEncoding('utf8');
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
    s.on('connect', () => (localPort = s.localPort ?? 0));
    s.on('data', (c: string) => (text += c));
    s.on('end', () => {
      s.end();
      resolve({ text: text.trim(), localPort });
    });
    s.on('error', reject);
  });
}

/** The host port Docker bound for a container's target port (to reach it around the mesh). */
async function boundPort(
  containerId: string,
  target: string,
): Promise<{ host: string; port: number }> {
  const info = await docker.getContainer(containerId).inspect();
  const binding = info.NetworkSettings.Ports[target]?.[0];
  assert.ok(binding, `no host binding for ${target}`);
  return { host: binding.HostIp, port: Number(binding.HostPort) };
}

test(
  'routing mesh on Docker: UDP through every node, PROXY v2 and v1 carry the client address',
  { timeout: 240_000 },
  async (t) => {
    const cluster = await startDockerCluster(t, NODES, SERVICES);
    if (!cluster) return;
    const { manager: m, agents } = cluster;

    await cliOk(m, [
      'service',
      'create',
      '--name',
      'udpecho',
      '--replicas',
      '2',
      '--max-replicas-per-node',
      '1',
      '--constraint',
      'node.labels.echo==yes',
      '--publish',
      `published=${UDP_PORT},target=${UDP_PORT},protocol=udp`,
      TEST_IMAGE,
      '--',
      'udp-echo',
      String(UDP_PORT),
    ]);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      'udpproxied',
      '--constraint',
      'node.hostname==udp-c',
      '--publish',
      `published=${UDP_PROXY_PORT},target=${UDP_PROXY_PORT},protocol=udp,proxy=v2`,
      TEST_IMAGE,
      '--',
      'udp-echo',
      String(UDP_PROXY_PORT),
    ]);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      'proxied-v2',
      '--constraint',
      'node.hostname==udp-a',
      '--publish',
      `published=${PROXY_V2_PORT},target=${PROXY_TARGET},proxy=v2`,
      TEST_IMAGE,
      '--',
      'proxy-echo',
      String(PROXY_TARGET),
    ]);

    await t.test('a UDP service answers through every node, from both tasks', async () => {
      const seen = await waitFor(
        async () => {
          const found = new Set<string>();
          for (const n of NODES) {
            for (let i = 0; i < 4; i++) {
              const payload = `hello ${n.name} ${i}`;
              const a = await udpOnce(n.address, payload, 1_000);
              if (!a.ok) return null;
              found.add(answeredBy(a, payload));
            }
          }
          return found.size === 2 ? found : null;
        },
        {
          what: `UDP answers on port ${UDP_PORT} of all three nodes, from both tasks`,
          timeoutMs: 60_000,
          intervalMs: 500,
        },
      );
      const running = (await taskContainers('udpecho'))
        .filter((c) => c.running)
        .map((c) => c.id.slice(0, 12));
      assert.deepEqual([...seen].sort(), running.sort(), 'the answers come from both tasks');

      // The node without a task spreads new flows over both tasks.
      const viaC = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const payload = `via c ${i}`;
        viaC.add(answeredBy(await udpOnce('127.0.0.7', payload), payload));
      }
      assert.deepEqual([...viaC].sort(), running.sort(), 'udp-c reaches both tasks');
    });

    await t.test('flows are per client: two source ports each get their answers', async () => {
      const one = await UdpClient.open();
      const two = await UdpClient.open();
      try {
        assert.notEqual(one.port, two.port);
        for (const n of NODES) {
          for (let i = 0; i < 5; i++) {
            // Interleaved, so each flow's answers must find their own way back.
            for (const [name, c] of [
              ['one', one],
              ['two', two],
            ] as const) {
              const payload = `${name} ${n.name} ${i}`;
              answeredBy(await c.exchange(n.address, payload), payload);
            }
          }
        }
        // A flow keeps its task: the same source port always reaches the same one.
        const first = answeredBy(await one.exchange('127.0.0.7', 'sticky 0'), 'sticky 0');
        for (let i = 1; i < 5; i++) {
          const payload = `sticky ${i}`;
          assert.equal(answeredBy(await one.exchange('127.0.0.7', payload), payload), first);
        }
      } finally {
        one.close();
        two.close();
      }
    });

    await t.test('PROXY v2: the task sees the client address and port', async () => {
      const ready = await waitFor(
        async () => {
          const a = await proxyQuery('127.0.0.7', PROXY_V2_PORT);
          return a.text.startsWith('client ') ? a : null;
        },
        { what: `proxy-echo answering on port ${PROXY_V2_PORT}`, timeoutMs: 30_000 },
      );
      assert.equal(ready.text, `client ${CLIENT_ADDR}:${ready.localPort} to 127.0.0.7:9100 v2`);
      // Through nodes without the task (udp-b, udp-c) and the one running it (udp-a).
      for (const host of ['127.0.0.6', '127.0.0.7', '127.0.0.5']) {
        for (let i = 0; i < 3; i++) {
          const a = await proxyQuery(host, PROXY_V2_PORT);
          assert.ok(a.localPort > 0);
          const want = `client ${CLIENT_ADDR}:${a.localPort} to ${host}:${PROXY_V2_PORT} v2`;
          assert.equal(a.text, want, `through ${host}`);
        }
      }
      // Around the mesh, straight to the task's host port, there is no header: it is the mesh's.
      const task = (await taskContainers('proxied-v2')).find((c) => c.running);
      assert.ok(task, 'the proxied-v2 container');
      const direct = await boundPort(task.id, `${PROXY_TARGET}/tcp`);
      assert.equal((await proxyQuery(direct.host, direct.port)).text, 'no proxy header');
    });

    await t.test('PROXY v1: the task sees the client address and port', async () => {
      await cliOk(m, [
        'service',
        'create',
        '--name',
        'proxied-v1',
        '--constraint',
        'node.hostname==udp-b',
        '--publish',
        `published=${PROXY_V1_PORT},target=${PROXY_TARGET},proxy=v1`,
        TEST_IMAGE,
        '--',
        'proxy-echo',
        String(PROXY_TARGET),
      ]);
      await waitFor(
        async () => (await proxyQuery('127.0.0.7', PROXY_V1_PORT)).text.startsWith('client '),
        { what: `proxy-echo answering on port ${PROXY_V1_PORT}`, timeoutMs: 30_000 },
      );
      for (const host of ['127.0.0.5', '127.0.0.7', '127.0.0.6']) {
        const a = await proxyQuery(host, PROXY_V1_PORT);
        const want = `client ${CLIENT_ADDR}:${a.localPort} to ${host}:${PROXY_V1_PORT} v1`;
        assert.equal(a.text, want, `through ${host}`);
      }
    });

    await t.test('UDP with PROXY v2: each datagram tells the task the client address', async () => {
      const c = await UdpClient.open();
      try {
        // Through a node without the task (udp-a) and the node running it (udp-c).
        for (const host of ['127.0.0.5', '127.0.0.7']) {
          const answer = await waitFor(
            async () => {
              const a = await c.exchange(host, `via ${host}`, 1_000, UDP_PROXY_PORT);
              return a.ok ? a.text : null;
            },
            { what: `UDP answers on port ${UDP_PROXY_PORT} of ${host}`, timeoutMs: 30_000 },
          );
          // "<hostname> client ADDR:PORT <payload>": the header itself is not echoed.
          const fromTask = answer.slice(answer.indexOf(' ') + 1);
          assert.equal(fromTask, `client ${CLIENT_ADDR}:${c.port} via ${host}`);
        }
      } finally {
        c.close();
      }
    });

    await t.test(
      'a killed UDP task: a client keeping its flow is answered again soon',
      async () => {
        const clients = await Promise.all([0, 1, 2, 3].map(() => UdpClient.open()));
        try {
          // Flows through the node without a task, spread over both tasks.
          const owner = new Map<UdpClient, string>();
          for (const c of clients)
            owner.set(c, answeredBy(await c.exchange('127.0.0.7', 'x'), 'x'));
          const victim = [...owner.values()][0];
          assert.ok(victim);
          const container = (await taskContainers('udpecho')).find((c) => c.id.startsWith(victim));
          assert.ok(container);
          await docker.getContainer(container.id).kill();
          const killedAt = Date.now();
          const recovered: number[] = [];
          for (const c of clients) {
            await waitFor(
              async () => {
                const a = await c.exchange('127.0.0.7', 'again', 500);
                return a.ok && !a.text.startsWith(victim) ? true : null;
              },
              { what: 'an answer from a live task', timeoutMs: 20_000, intervalMs: 100 },
            );
            recovered.push(Date.now() - killedAt);
          }
          t.diagnostic(`flows answered again after ${recovered.join(', ')} ms`);
        } finally {
          for (const c of clients) c.close();
        }
      },
    );

    await t.test('UDP scaled to 0: no answer on any node, and the agents live on', async () => {
      await cliOk(m, ['service', 'update', 'udpecho', '--replicas', '0']);
      await waitFor(
        async () => {
          const all = await Promise.all(NODES.map((n) => udpOnce(n.address, 'anyone?', 1_000)));
          return all.every((a) => !a.ok) ? true : null;
        },
        { what: `no UDP answer on port ${UDP_PORT} anywhere`, timeoutMs: 30_000, intervalMs: 250 },
      );
      for (const a of agents) {
        assert.equal(a.proc.exitCode, null, `agent ${a.name} exited`);
        assert.equal(a.proc.signalCode, null, `agent ${a.name} was killed`);
      }
      // The TCP ports on the same agents still work.
      const a = await proxyQuery('127.0.0.6', PROXY_V2_PORT);
      assert.equal(a.text, `client ${CLIENT_ADDR}:${a.localPort} to 127.0.0.6:${PROXY_V2_PORT} v2`);
    });
  },
);
