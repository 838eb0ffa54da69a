// wrk and HAProxy for the ingress benchmarks: wrk runs in alternating rounds, HAProxy as the reference proxy, medians and ratios.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { tempDir } from '../helpers/cluster.js';
import { cpuSeconds, goalLine, printTable, run, sleep } from './lib.js';

/** The target ratios of the ingress benchmarks: fleet against HAProxy doing the same forwarding. */
export const GOAL_RPS = 0.8;
export const GOAL_P99 = 1.5;

export interface WrkOptions {
  threads: string;
  connections: string;
  duration: string;
}

export interface WrkResult {
  rps: number;
  p99Ms: number;
  errors: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** The wrk command line, as the reports print it. */
export function wrkArgs(o: WrkOptions): string[] {
  return [`-t${o.threads}`, `-c${o.connections}`, `-d${o.duration}`, '--latency'];
}

/** Runs wrk against a URL and reads requests/s, the 99th percentile and any socket errors. */
export async function wrk(url: string, o: WrkOptions): Promise<WrkResult> {
  const r = await run('wrk', [...wrkArgs(o), url], 5 * 60_000);
  if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(r.stdout);
  const p99Ms = p99?.[1] && p99[2] ? Number(p99[1]) * (UNIT_MS[p99[2]] ?? NaN) : NaN;
  const errors = /Socket errors:.*|Non-2xx.*/.exec(r.stdout)?.[0] ?? '';
  return { rps, p99Ms, errors };
}

/** Throws naming the Debian package when one of the commands is not installed. */
export async function requireCommands(cmds: string[]): Promise<void> {
  for (const cmd of cmds) {
    if ((await run('sh', ['-c', `command -v ${cmd}`], 5_000)).code !== 0)
      throw new Error(`${cmd} is not installed (apt-get install -y ${cmd})`);
  }
}

/** Resolves true when an HTTP GET on a fresh connection gets any answer. */
export function answers(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) =>
    http
      .get({ host, port, agent: false, timeout: 2_000 }, (res) => {
        res.resume();
        resolve(true);
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy();
      })
      .on('error', () => resolve(false)),
  );
}

/** Starts HAProxy in TCP mode forwarding bind:port to backend:backendPort; resolves once it answers. */
export async function startHaproxy(o: {
  bind: string;
  port: number;
  backend: string;
  backendPort: number;
  threads: string;
}): Promise<ChildProcess> {
  const cfg = path.join(tempDir('bench-haproxy'), 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      `  nbthread ${o.threads}`,
      '  maxconn 4096',
      'defaults',
      '  mode tcp',
      '  timeout connect 3s',
      '  timeout client 60s',
      '  timeout server 60s',
      'listen ingress',
      `  bind ${o.bind}:${o.port}`,
      `  server b ${o.backend}:${o.backendPort}`,
      '',
    ].join('\n'),
  );
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error('haproxy exited');
    if (await answers(o.bind, o.port)) return proc;
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error('haproxy did not answer');
}

export interface Target {
  name: string;
  url: string;
  /** The process whose CPU time is reported (the proxy), if any. */
  pid: number | undefined;
}

export interface Measured extends WrkResult {
  /** CPU time the target's process spent per request, in microseconds. */
  cpuUs: number;
}

async function measure(t: Target, o: WrkOptions): Promise<Measured> {
  const before = t.pid ? cpuSeconds(t.pid) : NaN;
  const r = await wrk(t.url, o);
  const cpu = t.pid ? cpuSeconds(t.pid) - before : NaN;
  return { ...r, cpuUs: (cpu * 1e6) / (r.rps * seconds(o.duration)) };
}

/**
 * A short warm-up of every target (JIT, connections, CPU frequency), then `rounds` rounds that
 * alternate between the targets, so drift (other load, CPU frequency) hits all of them alike.
 */
export async function measureRounds(
  targets: Target[],
  o: WrkOptions,
  rounds: number,
): Promise<Map<string, Measured[]>> {
  for (const t of targets) await wrk(t.url, { ...o, duration: '2s' });
  const results = new Map<string, Measured[]>();
  for (let round = 0; round < rounds; round++)
    for (const t of targets)
      results.set(t.name, [...(results.get(t.name) ?? []), await measure(t, o)]);
  return results;
}

function seconds(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(d);
  return m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

export interface Medians {
  rps: number;
  p99: number;
}

/** Prints one row a target (medians of its rounds) and returns the medians by target name. */
export function printRounds(all: Map<string, Measured[]>): Map<string, Medians> {
  const rows = [['path', 'requests/s', 'p99 ms', 'CPU us/req', 'rounds req/s', 'errors']];
  const med = new Map<string, Medians>();
  for (const [name, rs] of all) {
    const m = { rps: median(rs.map((r) => r.rps)), p99: median(rs.map((r) => r.p99Ms)) };
    med.set(name, m);
    const cpu = median(rs.map((r) => r.cpuUs));
    const each = rs.map((r) => r.rps.toFixed(0)).join(' ');
    const errors = rs.map((r) => r.errors).find(Boolean) ?? '-';
    const cpuText = Number.isFinite(cpu) ? cpu.toFixed(1) : '-';
    rows.push([name, m.rps.toFixed(0), m.p99.toFixed(2), cpuText, each, errors]);
  }
  printTable(rows, 'lrrrrl');
  return med;
}

/** Prints one path's ratios against HAProxy and the goal lines they decide. */
export function compareToHaproxy(name: string, path: Medians, haproxy: Medians): void {
  const rpsRatio = path.rps / haproxy.rps;
  const p99Ratio = path.p99 / haproxy.p99;
  console.log(`${name}/haproxy: requests/s ${rpsRatio.toFixed(2)}x, p99 ${p99Ratio.toFixed(2)}x`);
  goalLine(`${name}: requests/s >= ${GOAL_RPS}x haproxy`, rpsRatio >= GOAL_RPS);
  goalLine(`${name}: p99 <= ${GOAL_P99}x haproxy`, p99Ratio <= GOAL_P99);
}
