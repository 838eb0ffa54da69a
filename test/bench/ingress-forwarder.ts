// Benchmark: HTTP requests/s and p99 latency with wrk, directly, through the ingress PortForwarder and through HAProxy (TCP mode).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/cluster.js';
import { HOSTS } from './ingress-procs.js';
import { onInterrupt, stopProc } from './lib.js';
import {
  compareToHaproxy,
  measureRounds,
  printRounds,
  requireCommands,
  startHaproxy,
  wrkArgs,
  type Target,
  type WrkOptions,
} from './wrk.js';

const PROCS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ingress-procs.js');
// FLEET_BENCH_INGRESS_CLOSE=1 makes the backend close each connection after its response
// (read by ingress-procs.ts), so every request is a new connection, as in the ingress benchmark.
/** Extra node flags for the forwarder process, for experiments (e.g. --cpu-prof). */
const FORWARDER_NODE_ARGS = (process.env.FLEET_BENCH_INGRESS_NODE_ARGS ?? '')
  .split(' ')
  .filter(Boolean);
const WRK: WrkOptions = {
  threads: '2',
  connections: process.env.FLEET_BENCH_INGRESS_CONNECTIONS ?? '32',
  duration: process.env.FLEET_BENCH_INGRESS_DURATION ?? '10s',
};
/** HAProxy threads; 1 by default, like the single event loop of the forwarder. */
const HAPROXY_THREADS = process.env.FLEET_BENCH_HAPROXY_THREADS ?? '1';
/** Alternating rounds per path; the medians are reported. */
const ROUNDS = Number(process.env.FLEET_BENCH_INGRESS_ROUNDS ?? 3);

/** Starts a process of ingress-procs.js and resolves once it prints "ready". */
async function startChild(args: string[], nodeArgs: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, PROCS, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
  return child;
}

async function main(): Promise<void> {
  await requireCommands(['wrk', 'haproxy']);
  const [backendPort, fleetPort, haproxyPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const procs: ChildProcess[] = [];
  const stopAll = (): Promise<unknown> => Promise.all(procs.map((p) => stopProc(p, 'SIGTERM')));
  const unregister = onInterrupt(stopAll);
  try {
    procs.push(await startChild(['backend', String(backendPort)]));
    procs.push(
      await startChild(['forwarder', String(fleetPort), String(backendPort)], FORWARDER_NODE_ARGS),
    );
    procs.push(
      await startHaproxy({
        bind: HOSTS.haproxy,
        port: haproxyPort,
        backend: HOSTS.backend,
        backendPort,
        threads: HAPROXY_THREADS,
      }),
    );
    const [backend, forwarder, haproxy] = procs;
    const targets: Target[] = [
      { name: 'direct', url: `http://${HOSTS.backend}:${backendPort}/`, pid: backend?.pid },
      { name: 'fleet', url: `http://${HOSTS.fleet}:${fleetPort}/`, pid: forwarder?.pid },
      { name: 'haproxy', url: `http://${HOSTS.haproxy}:${haproxyPort}/`, pid: haproxy?.pid },
    ];
    const results = await measureRounds(targets, WRK, ROUNDS);
    console.log(
      `wrk ${wrkArgs(WRK).join(' ')}, 1 KB body, ${ROUNDS} alternating rounds ` +
        `(medians); haproxy nbthread ${HAPROXY_THREADS}`,
    );
    const med = printRounds(results);
    console.log('(CPU: of the forwarding process; for direct, of the backend)');
    const fleet = med.get('fleet');
    const haproxyMed = med.get('haproxy');
    if (fleet && haproxyMed) compareToHaproxy('fleet', fleet, haproxyMed);
  } finally {
    await stopAll();
    unregister();
  }
}

await main().catch((e: Error) => {
  console.error(`ingress-forwarder: ${e.message}`);
  process.exit(1);
});
