// Benchmark: wrk through the real routing mesh (task on the same node and on another node), straight to the task's host port, and through HAProxy.
import type { ChildProcess } from 'node:child_process';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import {
  cli,
  cliOk,
  freePort,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { ensureTestImage, TEST_IMAGE } from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';
import type { ServiceDetail } from '../../shared/api.js';
import { dockerAnswers, onInterrupt, removeContainersWithLabel } from './lib.js';
import {
  answers,
  compareToHaproxy,
  measureRounds,
  printRounds,
  requireCommands,
  startHaproxy,
  wrkArgs,
  type Target,
  type WrkOptions,
} from './wrk.js';

/** Manager and node A, node B, HAProxy: loopback addresses of their own. */
const HOSTS = { a: '127.0.0.40', b: '127.0.0.41', haproxy: '127.0.0.42' };
const SERVICE = 'bench-ingress';
/** The published port; every node listens on it. */
const PUBLISHED = Number(process.env.FLEET_BENCH_INGRESS_PORT ?? 18080);
/**
 * 8 connections by default: busybox httpd listens with a backlog of 9, and more connections at
 * once overflow it, so SYNs are dropped and retried after a second on every path alike, which
 * makes the p99 that retry rather than the forwarding.
 */
const WRK: WrkOptions = {
  threads: process.env.FLEET_BENCH_INGRESS_THREADS ?? '1',
  connections: process.env.FLEET_BENCH_INGRESS_CONNECTIONS ?? '8',
  duration: process.env.FLEET_BENCH_INGRESS_DURATION ?? '5s',
};
/** HAProxy threads; 1 by default, like the single event loop of an agent. */
const HAPROXY_THREADS = process.env.FLEET_BENCH_HAPROXY_THREADS ?? '1';
/** Alternating rounds per path; the medians are reported. */
const ROUNDS = Number(process.env.FLEET_BENCH_INGRESS_ROUNDS ?? 5);
const SAME = 'ingress, same node';
const OTHER = 'ingress, other node';

interface Cluster {
  manager?: ManagerProc;
  agents: AgentProc[];
  nodeIds: string[];
  haproxy?: ChildProcess;
}

/** Where the task's port 80 is bound on its node, once both nodes forward the published port. */
async function waitForTask(m: ManagerProc): Promise<{ host: string; port: number }> {
  return waitFor(
    async () => {
      const svc = JSON.parse(await cliOk(m, ['service', 'inspect', SERVICE])) as ServiceDetail;
      const b = svc.ingress[0]?.backends[0];
      if (!b) return null;
      for (const host of [b.host, HOSTS.a, HOSTS.b]) {
        if (!(await answers(host, host === b.host ? b.port : PUBLISHED))) return null;
      }
      return { host: b.host, port: b.port };
    },
    {
      what: `the task to answer on its host port and on ${HOSTS.a} and ${HOSTS.b}:${PUBLISHED} (is the port free?)`,
      timeoutMs: 60_000,
      intervalMs: 250,
    },
  );
}

/** The engine's userland proxy (docker-proxy) for a host port, when there is one. */
function dockerProxyPid(host: string, port: number): number | undefined {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const arg = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
    if (
      args[0]?.endsWith('docker-proxy') &&
      arg('-host-ip') === host &&
      arg('-host-port') === String(port)
    )
      return Number(pid);
  }
  return undefined;
}

async function startCluster(c: Cluster): Promise<ManagerProc> {
  const m = await startManager({ host: HOSTS.a });
  c.manager = m;
  for (const [name, address] of [
    ['bench-a', HOSTS.a],
    ['bench-b', HOSTS.b],
  ] as const) {
    c.agents.push(
      startAgent({
        manager: m.address,
        token: m.workerToken,
        name,
        address,
        runtime: 'docker',
        labels: [`bench=${name}`],
      }),
    );
  }
  c.nodeIds.push(...(await waitForNodes(m, 2, 30_000)).map((n) => n.id));
  return m;
}

/** Removes the service, stops every process and removes the nodes' containers and data. */
async function teardown(c: Cluster): Promise<void> {
  const m = c.manager;
  if (m) await cli(m, ['service', 'rm', SERVICE], 10_000).catch(() => undefined);
  if (c.haproxy) await stopProc(c.haproxy);
  await Promise.all(c.agents.map((a) => stopProc(a.proc)));
  if (m) await stopProc(m.proc);
  for (const id of c.nodeIds) await removeContainersWithLabel(`fleet.node.id=${id}`);
  for (const dir of [...c.agents.map((a) => a.dataDir), ...(m ? [m.dataDir] : [])])
    await fs.rm(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  await requireCommands(['wrk', 'haproxy']);
  if (!(await dockerAnswers())) throw new Error('no Docker engine answers on /var/run/docker.sock');
  await ensureTestImage();
  const c: Cluster = { agents: [], nodeIds: [] };
  let down: Promise<void> | undefined;
  const cleanup = (): Promise<void> => (down ??= teardown(c));
  const unregister = onInterrupt(cleanup);
  try {
    const m = await startCluster(c);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      SERVICE,
      '--constraint',
      'node.labels.bench==bench-a',
      '--publish',
      `${PUBLISHED}:80`,
      TEST_IMAGE,
    ]);
    const task = await waitForTask(m);
    const haproxyPort = await freePort();
    c.haproxy = await startHaproxy({
      bind: HOSTS.haproxy,
      port: haproxyPort,
      backend: task.host,
      backendPort: task.port,
      threads: HAPROXY_THREADS,
    });
    const [agentA, agentB] = c.agents;
    const targets: Target[] = [
      { name: SAME, url: `http://${HOSTS.a}:${PUBLISHED}/`, pid: agentA?.proc.pid },
      { name: OTHER, url: `http://${HOSTS.b}:${PUBLISHED}/`, pid: agentB?.proc.pid },
      {
        name: 'direct',
        url: `http://${task.host}:${task.port}/`,
        pid: dockerProxyPid(task.host, task.port),
      },
      { name: 'haproxy', url: `http://${HOSTS.haproxy}:${haproxyPort}/`, pid: c.haproxy.pid },
    ];
    const loadBefore = os.loadavg()[0] ?? NaN;
    const results = await measureRounds(targets, WRK, ROUNDS);
    // Every path shares the machine's cores with wrk, the engine and the task: other load skews.
    console.log(
      `machine: ${os.availableParallelism()} cores, 1-minute load average ` +
        `${loadBefore.toFixed(1)} before the rounds, ${(os.loadavg()[0] ?? NaN).toFixed(1)} after`,
    );
    console.log(
      `wrk ${wrkArgs(WRK).join(' ')}, ${ROUNDS} alternating rounds (medians); ` +
        `haproxy nbthread ${HAPROXY_THREADS} (TCP mode)`,
    );
    console.log(
      `backend: one busybox httpd task on node A (${HOSTS.a}), host port ${task.port}; it ` +
        'closes the connection after each response, so every request is a new TCP connection ' +
        'on every path. Node B is another agent on this machine: its path has the same hops.',
    );
    const med = printRounds(results);
    console.log(
      '(CPU: of the forwarding process: agent A, agent B, the engine\u2019s port proxy for direct ' +
        '(it is behind every path when there is one), haproxy)',
    );
    const haproxy = med.get('haproxy');
    for (const name of [SAME, OTHER]) {
      const path = med.get(name);
      if (path && haproxy) compareToHaproxy(name, path, haproxy);
    }
  } finally {
    await cleanup();
    unregister();
  }
}

await main().catch((e: Error) => {
  console.error(`ingress: ${e.message}`);
  process.exit(1);
});
