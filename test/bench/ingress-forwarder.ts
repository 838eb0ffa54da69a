// Benchmark: HTTP requests/s and p99 latency with wrk, directly, through the ingress PortForwarder and through HAProxy (TCP mode).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir } from '../helpers/cluster.js';
import { HOSTS } from './ingress-procs.js';
import { cpuSeconds, goalLine, onInterrupt, printTable, run, sleep, stopProc } from './lib.js';

const PROCS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ingress-procs.js');
/** Extra node flags for the forwarder process, for experiments (e.g. --cpu-prof). */
const FORWARDER_NODE_ARGS = (process.env.FLEET_BENCH_INGRESS_NODE_ARGS ?? '')
  .split(' ')
  .filter(Boolean);
const DURATION = process.env.FLEET_BENCH_INGRESS_DURATION ?? '10s';
const CONNECTIONS = process.env.FLEET_BENCH_INGRESS_CONNECTIONS ?? '32';
/** HAProxy threads; 1 by default, like the single event loop of the forwarder. */
const HAPROXY_THREADS = process.env.FLEET_BENCH_HAPROXY_THREADS ?? '1';
/** Alternating rounds per path; the medians are reported. */
const ROUNDS = Number(process.env.FLEET_BENCH_INGRESS_ROUNDS ?? 3);
const GOAL_RPS = 0.8;
const GOAL_P99 = 1.5;

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

async function startHaproxy(port: number, backendPort: number): Promise<ChildProcess> {
  const cfg = path.join(tempDir('bench-haproxy'), 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      `  nbthread ${HAPROXY_THREADS}`,
      '  maxconn 4096',
      'defaults',
      '  mode tcp',
      '  timeout connect 3s',
      '  timeout client 60s',
      '  timeout server 60s',
      'listen ingress',
      `  bind ${HOSTS.haproxy}:${port}`,
      `  server b ${HOSTS.backend}:${backendPort}`,
      '',
    ].join('\n'),
  );
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error('haproxy exited');
    const ok = await new Promise<boolean>((r) =>
      http
        .get({ host: HOSTS.haproxy, port, agent: false }, (res) => {
          res.resume();
          r(true);
        })
        .on('error', () => r(false)),
    );
    if (ok) return proc;
    await sleep(50);
  }
  throw new Error('haproxy did not answer');
}

interface WrkResult {
  rps: number;
  p99Ms: number;
  errors: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Runs wrk against a URL and reads requests/s, the 99th percentile and any socket errors. */
async function wrk(url: string, duration: string): Promise<WrkResult> {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${duration}`, '--latency', url];
  const r = await run('wrk', args, 5 * 60_000);
  if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(r.stdout);
  const p99Ms = p99?.[1] && p99[2] ? Number(p99[1]) * (UNIT_MS[p99[2]] ?? NaN) : NaN;
  const errors = /Socket errors:.*|Non-2xx.*/.exec(r.stdout)?.[0] ?? '';
  return { rps, p99Ms, errors };
}

async function main(): Promise<void> {
  if (!(await hasCommand('wrk'))) throw new Error('wrk is not installed (apt-get install -y wrk)');
  if (!(await hasCommand('haproxy')))
    throw new Error('haproxy is not installed (apt-get install -y haproxy)');
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
    procs.push(await startHaproxy(haproxyPort, backendPort));
    const [backend, forwarder, haproxy] = procs;
    const targets: Target[] = [
      { name: 'direct', url: `http://${HOSTS.backend}:${backendPort}/`, pid: backend?.pid },
      { name: 'fleet', url: `http://${HOSTS.fleet}:${fleetPort}/`, pid: forwarder?.pid },
      { name: 'haproxy', url: `http://${HOSTS.haproxy}:${haproxyPort}/`, pid: haproxy?.pid },
    ];
    for (const t of targets) await wrk(t.url, '2s'); // warm-up: JIT, connections, CPU frequency
    // Rounds alternate between the paths so drift (other load, CPU frequency) hits all alike.
    const results = new Map<string, Measured[]>();
    for (let round = 0; round < ROUNDS; round++)
      for (const t of targets)
        results.set(t.name, [...(results.get(t.name) ?? []), await measure(t)]);
    report(results);
  } finally {
    await stopAll();
    unregister();
  }
}

interface Target {
  name: string;
  url: string;
  /** The process whose CPU time is reported: the proxy, or the backend for direct. */
  pid: number | undefined;
}

interface Measured extends WrkResult {
  /** CPU time the target's process spent per request, in microseconds. */
  cpuUs: number;
}

async function measure(t: Target): Promise<Measured> {
  const before = t.pid ? cpuSeconds(t.pid) : NaN;
  const r = await wrk(t.url, DURATION);
  const cpu = t.pid ? cpuSeconds(t.pid) - before : NaN;
  return { ...r, cpuUs: (cpu * 1e6) / (r.rps * seconds(DURATION)) };
}

function seconds(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(d);
  return m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : NaN;
}

async function hasCommand(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`], 5_000)).code === 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

function report(all: Map<string, Measured[]>): void {
  console.log(
    `wrk -t2 -c${CONNECTIONS} -d${DURATION} --latency, 1 KB body, ${ROUNDS} alternating rounds ` +
      `(medians); haproxy nbthread ${HAPROXY_THREADS}`,
  );
  const rows = [['path', 'requests/s', 'p99 ms', 'CPU us/req', 'rounds req/s', 'errors']];
  const med = new Map<string, { rps: number; p99: number }>();
  for (const [name, rs] of all) {
    const m = { rps: median(rs.map((r) => r.rps)), p99: median(rs.map((r) => r.p99Ms)) };
    med.set(name, m);
    const cpu = median(rs.map((r) => r.cpuUs)).toFixed(1);
    const each = rs.map((r) => r.rps.toFixed(0)).join(' ');
    const errors = rs.map((r) => r.errors).find(Boolean) ?? '-';
    rows.push([name, m.rps.toFixed(0), m.p99.toFixed(2), cpu, each, errors]);
  }
  printTable(rows, 'lrrrrl');
  console.log('(CPU: of the forwarding process; for direct, of the backend)');
  const fleet = med.get('fleet');
  const haproxy = med.get('haproxy');
  if (!fleet || !haproxy) return;
  const rpsRatio = fleet.rps / haproxy.rps;
  const p99Ratio = fleet.p99 / haproxy.p99;
  console.log(`fleet/haproxy: requests/s ${rpsRatio.toFixed(2)}x, p99 ${p99Ratio.toFixed(2)}x`);
  goalLine(`requests/s >= ${GOAL_RPS}x haproxy`, rpsRatio >= GOAL_RPS);
  goalLine(`p99 <= ${GOAL_P99}x haproxy`, p99Ratio <= GOAL_P99);
}

await main().catch((e: Error) => {
  console.error(`ingress-forwarder: ${e.message}`);
  process.exit(1);
});
