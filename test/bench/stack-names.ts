// Part of benchmark `stack`: a name lookup plus one request by name across nodes, against the same request to the task's address.
import Docker from 'dockerode';
import { Resolver } from 'node:dns/promises';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DOCKER_SOCKET, TEST_IMAGE } from '../helpers/docker.js';
import { httpGet } from '../helpers/http.js';
import {
  adminClient,
  fleetCli,
  percentile,
  poll,
  printTable,
  removeContainersWithLabel,
  removeStackBridges,
  startBenchAgent,
  startBenchManager,
  stopProc,
} from './lib.js';

const REQUESTS = Number(process.env.BENCH_NAME_REQUESTS ?? 300);
const STACK = `nb${process.pid}`;
const STACK_LABEL = 'com.docker.stack.namespace';

const compose = `services:
  api:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo hello > /www/index.html && exec httpd -f -p 8080 -h /www"]
    expose: ["8080"]
    deploy:
      placement:
        constraints: [node.hostname == names-b]
  client:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec sleep 100000"]
    deploy:
      placement:
        constraints: [node.hostname == names-a]
`;

/** Milliseconds of each of `n` runs of `once`, which must succeed. */
async function timed(n: number, once: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    out.push(performance.now() - t0);
  }
  return out;
}

/** The gateway of the bridge node A's agent made for the stack's default network. */
async function gatewayOf(nodeId: string): Promise<string | null> {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  const nets = await docker.listNetworks({
    filters: { label: [`fleet.node.id=${nodeId}`, `fleet.network=${STACK}_default`] },
  });
  const first = nets[0];
  if (!first) return null;
  const info = await docker.getNetwork(first.Id).inspect();
  return (
    (info as { IPAM?: { Config?: { Gateway?: string }[] } }).IPAM?.Config?.[0]?.Gateway ?? null
  );
}

export async function nameLatency(): Promise<void> {
  console.log(
    `\nnames: ${REQUESTS} x (resolve "api" + GET) across nodes vs GET to the task's address`,
  );
  const m = await startBenchManager();
  const a = startBenchAgent(m, { name: 'names-a', address: '127.0.0.2', runtime: 'docker' });
  const b = startBenchAgent(m, { name: 'names-b', address: '127.0.0.3', runtime: 'docker' });
  const client = await adminClient(m);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-bench-names-'));
  try {
    const nodes = await poll(
      async () => {
        const ls = (await client.call('node.ls', {})).filter(
          (n) => !n.manager && n.status === 'ready',
        );
        return ls.length === 2 ? ls : null;
      },
      200,
      30_000,
    );
    const nodeA = nodes?.find((n) => n.name === 'names-a');
    if (!nodeA) throw new Error('agents never became ready');
    const file = path.join(dir, 'docker-compose.yml');
    await fs.writeFile(file, compose);
    const r = await fleetCli(m, ['stack', 'deploy', '-c', file, STACK], 120_000);
    if (r.code !== 0) throw new Error(`stack deploy failed: ${r.stderr.trim()}`);
    const task = await poll(
      async () =>
        (await client.call('service.ps', { service: `${STACK}_api`, all: false })).find(
          (t) => t.state === 'running' && t.hostPorts.some((h) => h.target === 8080),
        ),
      200,
      60_000,
    );
    const bound = task?.hostPorts.find((h) => h.target === 8080);
    const gateway = await poll(() => gatewayOf(nodeA.id), 200, 30_000);
    if (!bound || !gateway) throw new Error('the api task or node A bridge never showed up');
    const resolver = new Resolver({ timeout: 2_000, tries: 1 });
    resolver.setServers([gateway]);
    const byName = async (): Promise<void> => {
      const [vip] = await resolver.resolve4('api');
      if (!vip) throw new Error('api did not resolve');
      const got = await httpGet(vip, 8080);
      if (!got.ok) throw new Error(`GET by name failed: ${got.error}`);
    };
    const direct = async (): Promise<void> => {
      const got = await httpGet(bound.hostIp || '127.0.0.3', bound.hostPort);
      if (!got.ok) throw new Error(`GET to the task failed: ${got.error}`);
    };
    await byName();
    await direct();
    const named: number[] = [];
    const plain: number[] = [];
    // Interleaved in blocks, so load on the machine falls on both alike.
    for (let i = 0; i < REQUESTS; i += 50) {
      named.push(...(await timed(Math.min(50, REQUESTS - i), byName)));
      plain.push(...(await timed(Math.min(50, REQUESTS - i), direct)));
    }
    const row = (what: string, xs: number[]) => [
      what,
      percentile(xs, 50).toFixed(2),
      percentile(xs, 99).toFixed(2),
    ];
    printTable(
      [
        ['path', 'p50 ms', 'p99 ms'],
        row('resolve api on node A + GET via its virtual address to node B', named),
        row("GET to the task's address on node B", plain),
      ],
      'lrr',
    );
    console.log(
      `by name / direct: p50 ${(percentile(named, 50) / percentile(plain, 50)).toFixed(2)}x, p99 ${(percentile(named, 99) / percentile(plain, 99)).toFixed(2)}x`,
    );
  } finally {
    await fleetCli(m, ['stack', 'rm', STACK], 60_000).catch(() => undefined);
    await client.close().catch(() => undefined);
    await Promise.all([stopProc(a.proc), stopProc(b.proc)]);
    await stopProc(m.proc);
    await removeContainersWithLabel(`${STACK_LABEL}=${STACK}`);
    await removeStackBridges(STACK);
    await fs.rm(dir, { recursive: true, force: true });
  }
}
