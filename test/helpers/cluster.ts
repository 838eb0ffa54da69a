// Real fleet processes for tests: a manager and agents on loopback addresses, driven by the CLI.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const FLEET = path.join(REPO, 'bin', 'fleet.js');

export interface ManagerProc {
  proc: ChildProcess;
  address: string;
  dataDir: string;
  workerToken: string;
  managerToken: string;
  identity: string;
  log: string;
  /** Started with --insecure: plain TCP, so clients must be told so too. */
  insecure?: boolean;
}

export interface AgentProc {
  proc: ChildProcess;
  name: string;
  dataDir: string;
  address: string;
  log: string;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `fleet-${prefix}-`));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Spawns `fleet <args>` with output appended to a log file. */
export function spawnFleet(args: string[], log: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const out = createWriteStream(log, { flags: 'a' });
  const proc = spawn(process.execPath, [FLEET, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEET_LOG_LEVEL: 'debug', ...env },
  });
  proc.stdout?.pipe(out, { end: false });
  proc.stderr?.pipe(out, { end: false });
  return proc;
}

export async function startManager(
  opts: {
    dataDir?: string;
    /** Loopback address to listen on (default 127.0.0.1). */
    host?: string;
    port?: number;
    heartbeat?: string;
    insecure?: boolean;
    /** Join the cluster of this manager (with its manager token). */
    join?: Pick<ManagerProc, 'address' | 'managerToken'>;
    /** Run tasks beside the manager (Docker); tests count on pure managers unless they ask. */
    worker?: boolean;
    extraArgs?: string[];
  } = {},
): Promise<ManagerProc> {
  const dataDir = opts.dataDir ?? tempDir('mgr');
  const port = opts.port ?? (await freePort());
  const address = `${opts.host ?? '127.0.0.1'}:${port}`;
  const log = path.join(dataDir, '..', `${path.basename(dataDir)}.log`);
  const args = ['manager', 'start', '--data-dir', dataDir, '--listen', address];
  if (opts.heartbeat) args.push('--heartbeat', opts.heartbeat);
  if (opts.insecure) args.push('--insecure');
  if (opts.join) args.push('--join', opts.join.address, '--token', opts.join.managerToken);
  if (!opts.worker) args.push('--no-worker');
  args.push(...(opts.extraArgs ?? []));
  const proc = spawnFleet(args, log);
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  const tokens = await waitFor(
    () => {
      if (proc.exitCode !== null) throw new Error(`manager exited early: ${out}`);
      const w = /Worker join token:\s+(\S+)/.exec(out)?.[1];
      const m = /Manager join token:\s+(\S+)/.exec(out)?.[1];
      return w && m ? { w, m } : null;
    },
    { what: 'the manager to print its tokens', timeoutMs: 20_000 },
  );
  return {
    proc,
    address,
    dataDir,
    workerToken: tokens.w,
    managerToken: tokens.m,
    identity: path.join(dataDir, 'admin-identity.json'),
    log,
    ...(opts.insecure ? { insecure: true } : {}),
  };
}

export function startAgent(opts: {
  manager: string;
  token: string;
  name: string;
  address: string;
  runtime: 'docker' | 'process';
  dataDir?: string;
  labels?: string[];
  /** The agent's own Docker engine (--docker-host), e.g. unix:///…/docker.sock of test/helpers/engines. */
  dockerHost?: string;
  extraArgs?: string[];
  /** Added to the agent's environment (DOCKER_HOST, for one). */
  env?: NodeJS.ProcessEnv;
}): AgentProc {
  const dataDir = opts.dataDir ?? tempDir(`agent-${opts.name}`);
  const log = path.join(dataDir, '..', `${path.basename(dataDir)}.log`);
  const args = [
    'agent',
    'start',
    '--manager',
    opts.manager,
    '--token',
    opts.token,
    '--data-dir',
    dataDir,
    '--advertise-addr',
    opts.address,
    '--name',
    opts.name,
    '--runtime',
    opts.runtime,
  ];
  for (const l of opts.labels ?? []) args.push('--label', l);
  if (opts.dockerHost !== undefined) args.push('--docker-host', opts.dockerHost);
  args.push(...(opts.extraArgs ?? []));
  const proc = spawnFleet(args, log, opts.env);
  return { proc, name: opts.name, dataDir, address: opts.address, log };
}

/** Restarts an agent on its existing data dir (it has already joined). */
export function restartAgent(
  a: AgentProc,
  manager: string,
  runtime: 'docker' | 'process',
  /** Flags the agent was started with besides the usual ones (--docker-host, --max-bandwidth, …). */
  extraArgs: readonly string[] = [],
): AgentProc {
  const args = [
    'agent',
    'start',
    '--manager',
    manager,
    '--data-dir',
    a.dataDir,
    '--advertise-addr',
    a.address,
    '--name',
    a.name,
    '--runtime',
    runtime,
    ...extraArgs,
  ];
  return { ...a, proc: spawnFleet(args, a.log) };
}

export async function stopProc(
  proc: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the fleet CLI against a manager (env added to this process's) and resolves with its exit code and output. */
export function cli(
  m: Pick<ManagerProc, 'address' | 'identity' | 'insecure'>,
  args: string[],
  timeoutMs = 60_000,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [FLEET, ...args],
      {
        env: {
          ...process.env,
          FLEET_HOST: m.address,
          FLEET_IDENTITY: m.identity,
          ...(m.insecure ? { FLEET_INSECURE: '1' } : {}),
          ...env,
        },
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a CLI command that must succeed and parses its JSON output. */
export async function cliJson<T>(
  m: Pick<ManagerProc, 'address' | 'identity'>,
  args: string[],
): Promise<T> {
  const r = await cli(m, [...args, '--format', 'json']);
  if (r.code !== 0)
    throw new Error(`fleet ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

export async function cliOk(
  m: Pick<ManagerProc, 'address' | 'identity'>,
  args: string[],
): Promise<string> {
  const r = await cli(m, args);
  if (r.code !== 0)
    throw new Error(
      `fleet ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()} ${r.stdout.trim()}`,
    );
  return r.stdout;
}

export interface NodeJson {
  id: string;
  name: string;
  role: string;
  status: string;
  availability: string;
  address: string;
  arch: string;
  os: string;
  labels: Record<string, string>;
  /** Present on the nodes that run a manager process. */
  manager?: { address: string; leader: boolean; reachable: boolean; raft: string };
}

export interface ManagerJson {
  id: string;
  name: string;
  role: string;
  address: string;
  leader: boolean;
  reachable: boolean;
  raft: 'voter' | 'learner' | 'none';
  appliedIndex: number | null;
}

/**
 * Starts `count` managers on 127.0.0.<first>, .<first+1>, ...: the first creates the cluster,
 * the others join it; resolves once all of them vote.
 */
export async function startManagers(
  count: number,
  opts: { firstHost?: number; extraArgs?: string[]; dataDirs?: string[]; worker?: boolean } = {},
): Promise<ManagerProc[]> {
  const first = opts.firstHost ?? 11;
  const managers: ManagerProc[] = [];
  for (let i = 0; i < count; i++) {
    const dataDir = opts.dataDirs?.[i];
    managers.push(
      await startManager({
        host: `127.0.0.${first + i}`,
        ...(dataDir ? { dataDir } : {}),
        ...(managers[0] ? { join: managers[0] } : {}),
        ...(opts.worker ? { worker: true } : {}),
        extraArgs: opts.extraArgs ?? [],
      }),
    );
  }
  await waitFor(
    async () => {
      const ms = await cliJson<ManagerJson[]>(clusterTarget(managers), ['manager', 'ls']);
      return ms.filter((m) => m.raft === 'voter' && m.reachable).length === count ? ms : null;
    },
    { what: `${count} voting managers`, timeoutMs: 30_000, intervalMs: 250 },
  );
  return managers;
}

/** What the CLI needs to reach any of these managers (it follows the leader itself). */
export function clusterTarget(
  managers: readonly ManagerProc[],
): Pick<ManagerProc, 'address' | 'identity'> {
  const first = managers[0];
  if (!first) throw new Error('no managers');
  return { address: managers.map((m) => m.address).join(','), identity: first.identity };
}

/** Restarts a manager on its data dir and address (it is already a member). */
export async function restartManager(
  m: ManagerProc,
  extraArgs: string[] = [],
  worker = false,
): Promise<ManagerProc> {
  const [host, port] = [m.address.replace(/:\d+$/, ''), Number(m.address.split(':').pop())];
  return startManager({ dataDir: m.dataDir, host, port, extraArgs, worker });
}

export interface TaskJson {
  id: string;
  name: string;
  service: string;
  slot: number;
  node: string | null;
  desiredState: string;
  state: string;
  error: string | null;
  health?: string;
  updatedAt: string;
}

export interface ServiceJson {
  id: string;
  name: string;
  mode: string;
  replicas: { running: number; desired: number };
  image: string;
  ports: unknown[];
}

export async function waitForNodes(
  m: ManagerProc,
  count: number,
  timeoutMs = 30_000,
): Promise<NodeJson[]> {
  // Agents only: manager processes are listed too, but run no tasks.
  return waitFor(
    async () => {
      const nodes = await cliJson<NodeJson[]>(m, ['node', 'ls']);
      const agents = nodes.filter((n) => !n.manager);
      return agents.filter((n) => n.status === 'ready').length >= count ? agents : null;
    },
    { what: `${count} ready nodes`, timeoutMs, intervalMs: 250 },
  );
}

/** Running tasks (desired running) of a service. */
export async function runningTasks(m: ManagerProc, service: string): Promise<TaskJson[]> {
  const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', service]);
  return tasks.filter((t) => t.desiredState === 'running' && t.state === 'running');
}

export async function readLog(file: string): Promise<string> {
  return fs.readFile(file, 'utf8').catch(() => '');
}
