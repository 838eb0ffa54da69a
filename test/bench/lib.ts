// Shared helpers for the benchmark scripts: /proc figures, processes, tables and goal lines.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectClient, type RpcClient } from '../../manager/cli/rpc-client.js';
import { loadIdentity } from '../../manager/cli/connection.js';
import type { Results } from '../../shared/api.js';
import { FLEET, REPO, freePort, stopProc, tempDir, type ManagerProc } from '../helpers/cluster.js';

export { sleep };

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces; the fields after it are fixed. utime and stime are
  // fields 14 and 15, i.e. the 12th and 13th after the closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS), or 0 when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Anonymous (heap, stacks) resident bytes; the rest of RSS is file-backed, mostly the node binary. */
export function anonBytes(pid: number): number {
  try {
    const m = /^Anonymous:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

/** Measures a process's CPU share (% of one core) between start() and stop(). */
export class CpuMeter {
  private t0 = 0;
  private c0 = 0;
  constructor(private readonly pid: number) {}
  start(): void {
    this.t0 = performance.now();
    this.c0 = cpuSeconds(this.pid);
  }
  /** Percent of one core since start(). */
  read(): number {
    const wall = (performance.now() - this.t0) / 1000;
    return wall > 0 ? ((cpuSeconds(this.pid) - this.c0) / wall) * 100 : 0;
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by timeoutMs) without throwing. */
export function run(
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
  env?: NodeJS.ProcessEnv,
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, env: env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Polls fn every intervalMs until it returns a truthy value; null when the deadline passes. */
export async function poll<T>(
  fn: () => Promise<T | null | undefined | false>,
  intervalMs: number,
  timeoutMs: number,
): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => null);
    if (v) return v;
    await sleep(intervalMs);
  }
  return null;
}

/** Prints rows as an aligned plain-text table (first row is the header); align: 'l'/'r' per column. */
export function printTable(rows: string[][], align = 'l'): void {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const pad = (c: string, i: number): string =>
    (align[i] ?? 'r') === 'l' ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0);
  const line = (r: string[]): string => r.map(pad).join('  ').trimEnd();
  console.log(line(rows[0] ?? []));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}

export function goalLine(text: string, pass: boolean | null): void {
  console.log(`goal: ${text} -> ${pass === null ? 'n/a' : pass ? 'PASS' : 'MISS'}`);
}

/** The p-th percentile (0..100) of the values, nearest-rank; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export async function dockerAnswers(): Promise<boolean> {
  if (!existsSync('/var/run/docker.sock')) return false;
  return (await run('docker', ['version', '--format', '{{.Server.Version}}'], 5_000)).code === 0;
}

/** Spawns `node <script> <args>` with stdout and stderr appended to a log file. */
export function spawnNode(
  script: string,
  args: string[],
  log: string,
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
): ChildProcess {
  const out = createWriteStream(log, { flags: 'a' });
  const proc = spawn(process.execPath, [...nodeArgs, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEET_LOG_LEVEL: 'info', ...env },
  });
  proc.stdout?.pipe(out, { end: false });
  proc.stderr?.pipe(out, { end: false });
  return proc;
}

/**
 * Starts `fleet manager start` with info-level logging (debug logging would skew CPU figures).
 * With dataDir and address it restarts a manager that is already a member; with join it joins.
 */
export async function startBenchManager(
  opts: {
    heartbeat?: string;
    env?: NodeJS.ProcessEnv;
    nodeArgs?: string[];
    dataDir?: string;
    /** Loopback host to listen on (default 127.0.0.1), or a whole HOST:PORT. */
    host?: string;
    address?: string;
    join?: Pick<ManagerProc, 'address' | 'managerToken'>;
    extraArgs?: string[];
  } = {},
): Promise<ManagerProc> {
  const dataDir = opts.dataDir ?? tempDir('bench-mgr');
  const address = opts.address ?? `${opts.host ?? '127.0.0.1'}:${await freePort()}`;
  const log = path.join(dataDir, '..', `${path.basename(dataDir)}.log`);
  const args = ['manager', 'start', '--data-dir', dataDir, '--listen', address, '--no-worker'];
  if (opts.heartbeat) args.push('--heartbeat', opts.heartbeat);
  if (opts.join) args.push('--join', opts.join.address, '--token', opts.join.managerToken);
  args.push(...(opts.extraArgs ?? []));
  const proc = spawnNode(FLEET, args, log, opts.env, opts.nodeArgs);
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const w = /Worker join token:\s+(\S+)/.exec(out)?.[1];
    const m = /Manager join token:\s+(\S+)/.exec(out)?.[1];
    if (w && m) {
      const identity = path.join(dataDir, 'admin-identity.json');
      return { proc, address, dataDir, workerToken: w, managerToken: m, identity, log };
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`manager did not start (log: ${log})`);
    }
    await sleep(50);
  }
}

/** Managers as `manager.ls` lists them. */
export type ManagerRow = Results['manager.ls'][number];

/** Resolves with the manager list once `count` voters are reachable and one leads; null on timeout. */
export function waitHealthy(
  client: RpcClient,
  count: number,
  timeoutMs: number,
): Promise<ManagerRow[] | null> {
  return poll(
    async () => {
      const ms = await client.call('manager.ls', {});
      const voters = ms.filter((m) => m.raft === 'voter' && m.reachable);
      return voters.length === count && ms.some((m) => m.leader) ? ms : null;
    },
    100,
    timeoutMs,
  );
}

/**
 * Starts `count` managers on 127.0.0.<firstHost>, .<firstHost+1>, ... with their data dirs and
 * logs under root: the first creates the cluster, the others join it. Resolves once all vote;
 * on failure stops whatever it started.
 */
export async function startBenchCluster(
  count: number,
  root: string,
  opts: {
    firstHost?: number;
    env?: NodeJS.ProcessEnv;
    extraArgs?: string[];
    nodeArgs?: string[];
  } = {},
): Promise<ManagerProc[]> {
  const managers: ManagerProc[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const dataDir = path.join(root, `m${i + 1}`);
      mkdirSync(dataDir, { recursive: true });
      managers.push(
        await startBenchManager({
          dataDir,
          host: `127.0.0.${(opts.firstHost ?? 11) + i}`,
          ...(managers[0] ? { join: managers[0] } : {}),
          ...(opts.env ? { env: opts.env } : {}),
          ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}),
          ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
        }),
      );
    }
    const client = await clusterClient(managers, 5_000);
    try {
      if (!(await waitHealthy(client, count, 30_000)))
        throw new Error(`${count} managers did not all become reachable voters within 30 s`);
    } finally {
      await client.close();
    }
    return managers;
  } catch (e) {
    await Promise.all(managers.map((m) => stopProc(m.proc, 'SIGKILL')));
    throw e;
  }
}

/**
 * FLEET_BENCH_NODELAY=1: an experiment that sets TCP_NODELAY on every outgoing TLS connection,
 * in this process and (through these node flags) in the managers it starts. Returns the flags.
 */
export async function noDelayExperiment(): Promise<string[]> {
  if (process.env.FLEET_BENCH_NODELAY !== '1') return [];
  const preload = pathToFileURL(path.join(HERE, 'nodelay-preload.js')).href;
  await import(preload);
  return ['--import', preload];
}

/** An admin RPC client that may use any of these managers and follows the leader among them. */
export async function clusterClient(
  managers: readonly ManagerProc[],
  timeoutMs: number,
): Promise<RpcClient> {
  const first = managers[0];
  if (!first) throw new Error('no managers');
  return connectClient({
    hosts: managers.map((m) => m.address),
    identity: await loadIdentity(first.identity),
    timeoutMs,
  });
}

export interface BenchAgent {
  proc: ChildProcess;
  dataDir: string;
  log: string;
}

/** Starts an agent: `fleet agent start ...`, or the bundle (`node dist/fleet-agent.mjs start ...`). */
export function startBenchAgent(
  m: ManagerProc,
  opts: {
    name: string;
    address: string;
    runtime: 'docker' | 'process';
    bundle?: boolean;
    nodeArgs?: string[];
    /** More `agent start` flags (--label, --docker-host, ...). */
    extraArgs?: string[];
  },
): BenchAgent {
  const dataDir = tempDir(`bench-agent-${opts.name}`);
  const log = path.join(dataDir, '..', `${path.basename(dataDir)}.log`);
  const flags = [
    '--manager',
    m.address,
    '--token',
    m.workerToken,
    '--data-dir',
    dataDir,
    '--advertise-addr',
    opts.address,
    '--name',
    opts.name,
    '--runtime',
    opts.runtime,
    ...(opts.extraArgs ?? []),
  ];
  const proc = opts.bundle
    ? spawnNode(BUNDLE, ['start', ...flags], log, {}, [
        ...bundleNodeFlags(),
        ...(opts.nodeArgs ?? []),
      ])
    : spawnNode(FLEET, ['agent', 'start', ...flags], log, {}, opts.nodeArgs);
  return { proc, dataDir, log };
}

/** The single-file agent a board runs, built by `node bin/bundle-agent.js`. */
export const BUNDLE = path.join(REPO, 'dist', 'fleet-agent.mjs');

/** The node flags in the bundle's shebang line: how a board starts it, as ./fleet-agent.mjs. */
export function bundleNodeFlags(): string[] {
  const first = readFileSync(BUNDLE, 'utf8').slice(0, 400).split('\n')[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node\s+(.*)$/.exec(first);
  return m?.[1] ? m[1].split(/\s+/).filter(Boolean) : [];
}

/** An RPC session as the cluster's admin, for polling without a CLI process per poll. */
export async function adminClient(m: ManagerProc): Promise<RpcClient> {
  return connectClient({
    hosts: [m.address],
    identity: await loadIdentity(m.identity),
    timeoutMs: 20_000,
  });
}

export { stopProc };

/** Runs the fleet CLI against a manager. */
export function fleetCli(m: ManagerProc, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [FLEET, ...args], timeoutMs, {
    ...process.env,
    FLEET_HOST: m.address,
    FLEET_IDENTITY: m.identity,
  });
}

/** Ids of the engine's containers carrying the label (running ones only unless all). */
export async function containersWithLabel(
  label: string,
  opts: { running?: boolean } = {},
): Promise<string[]> {
  const args = ['ps', '-q', '--no-trunc', '--filter', `label=${label}`];
  if (opts.running) args.push('--filter', 'status=running');
  else args.push('-a');
  const r = await run('docker', args, 30_000);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** Force-removes every container carrying the label; returns how many there were. */
export async function removeContainersWithLabel(label: string): Promise<number> {
  const ids = await containersWithLabel(label);
  for (let i = 0; i < ids.length; i += 50)
    await run('docker', ['rm', '-f', ...ids.slice(i, i + 50)], 120_000);
  return ids.length;
}

const cleanups = new Set<() => Promise<unknown>>();
let interrupted = false;

/** Registers cleanup to run if the benchmark is interrupted (SIGINT/SIGTERM); returns an unregister. */
export function onInterrupt(fn: () => Promise<unknown>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`interrupted by ${signal}; cleaning up`);
    const all = Promise.all([...cleanups].map((fn) => fn().catch(() => undefined)));
    void Promise.race([all, sleep(25_000)]).finally(() => process.exit(130));
  });
}

/**
 * The engine's own floor: `count` `docker run -d` of the image spawned at once, labelled, until
 * all run; then removed. Seconds (null when they never all ran) and how many runs failed.
 */
export async function rawDockerRuns(
  count: number,
  image: string,
  label: string,
  timeoutMs = 180_000,
  runArgs: readonly string[] = [],
): Promise<{ seconds: number | null; failed: number }> {
  const forget = onInterrupt(() => removeContainersWithLabel(label));
  const t0 = performance.now();
  const started = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<boolean>((resolve) => {
          const args = ['run', '-d', '--label', label, ...runArgs, image];
          const p = spawn('docker', args, { stdio: 'ignore' });
          const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
          p.on('close', (code) => {
            clearTimeout(timer);
            resolve(code === 0);
          });
          p.on('error', () => resolve(false));
        }),
    ),
  );
  const all = await poll(
    async () => (await containersWithLabel(label, { running: true })).length >= count,
    100,
    30_000,
  );
  const seconds = all ? (performance.now() - t0) / 1000 : null;
  await removeContainersWithLabel(label);
  forget();
  return { seconds, failed: started.filter((ok) => !ok).length };
}

/** Removes the bridges agents made for a stack's networks (an agent stopped at once keeps them). */
export async function removeStackBridges(stack: string): Promise<void> {
  const r = await run('docker', [
    'network',
    'ls',
    '--filter',
    'label=fleet.network',
    '--format',
    '{{.Name}}',
  ]);
  const names = r.stdout.split('\n').filter((n) => n.startsWith(`${stack}_`));
  if (names.length > 0) await run('docker', ['network', 'rm', ...names]);
}
