// Extra Docker engines beside the main one, each with its own dirs, socket and bridge, so simulated boards do not share images.
import Docker from 'dockerode';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { removeLeftovers, removeBridge, usedSubnets } from './engine-leftovers.js';
import { waitFor } from './wait.js';

const execFileP = promisify(execFile);

/** Where every engine's dirs live, one folder per engine name (found again after a killed run). */
export const ENGINES_DIR = path.join(os.tmpdir(), 'fleet-engines');
/** The bridges take a /24 each from 10.222.0.0/16: not docker0's 172.17/16, not fleet's 10.213/16. */
const SUBNET_BASE = '10.222';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

export interface Engine {
  /** The engine's name, also its bridge's name. */
  readonly name: string;
  /** The API socket's path. */
  readonly socket: string;
  /** The address for docker -H, DOCKER_HOST or the agent's --docker-host: unix://<socket>. */
  readonly host: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly bridge: string;
  /** The bridge's address with its prefix, e.g. 10.222.3.1/24. */
  readonly bridgeAddress: string;
  /** dockerd's output. */
  readonly log: string;
  /** Removes its containers, stops dockerd (and its containerd), deletes the bridge and the dirs. */
  stop(): Promise<void>;
}

export interface EngineOptions {
  /** Names are <prefix>1, <prefix>2, …; at most 13 characters so bridge names fit. */
  prefix?: string;
}

/**
 * Starts count engines named <prefix>1…, each once `docker version` answers on its socket,
 * and stops them all after the test (passed or not). Needs root, for the bridges.
 */
export async function startEngines(
  t: TestContext,
  count: number,
  opts: EngineOptions = {},
): Promise<Engine[]> {
  const prefix = opts.prefix ?? 'fleng';
  if (!/^[a-z][a-z0-9-]{0,12}$/.test(prefix))
    throw new Error(`engine prefix "${prefix}" must be 1-13 lowercase letters, digits or dashes`);
  if (process.getuid?.() !== 0) throw new Error('extra Docker engines need root (for bridges)');
  const engines: Engine[] = [];
  t.after(async () => {
    for (const e of engines.reverse()) await e.stop();
  });
  for (let i = 1; i <= count; i++) engines.push(await startEngine(`${prefix}${i}`));
  return [...engines];
}

/** One engine; the caller stops it. Leftovers of an earlier run under the same name go first. */
export async function startEngine(name: string): Promise<Engine> {
  const dir = path.join(ENGINES_DIR, name);
  await removeLeftovers(dir, name);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const bridgeAddress = await createBridge(name);
  const paths = {
    socket: path.join(dir, 'docker.sock'),
    dataRoot: path.join(dir, 'data'),
    execRoot: path.join(dir, 'exec'),
    pidfile: path.join(dir, 'docker.pid'),
    config: path.join(dir, 'daemon.json'),
    log: path.join(dir, 'dockerd.log'),
  };
  // Its own empty settings file: the host's /etc/docker/daemon.json may name hosts or a bridge.
  await fs.writeFile(paths.config, '{}\n');
  const proc = spawnDockerd(name, paths);
  const engine: Engine = {
    name,
    socket: paths.socket,
    host: `unix://${paths.socket}`,
    dataRoot: paths.dataRoot,
    execRoot: paths.execRoot,
    bridge: name,
    bridgeAddress,
    log: paths.log,
    stop: once(() => stopEngine(engine, proc, dir)),
  };
  try {
    await waitForEngine(engine, proc);
  } catch (e) {
    await engine.stop();
    throw e;
  }
  return engine;
}

function spawnDockerd(
  bridge: string,
  p: {
    socket: string;
    dataRoot: string;
    execRoot: string;
    pidfile: string;
    config: string;
    log: string;
  },
): ChildProcess {
  const out = openSync(p.log, 'a');
  try {
    return spawn(
      'dockerd',
      [
        '--config-file',
        p.config,
        '--data-root',
        p.dataRoot,
        '--exec-root',
        p.execRoot,
        '--pidfile',
        p.pidfile,
        '-H',
        `unix://${p.socket}`,
        '--bridge',
        bridge,
        // The main engine owns the iptables chains; published ports go through docker-proxy.
        '--iptables=false',
        '--ip-masq=false',
      ],
      { stdio: ['ignore', out, out] },
    );
  } finally {
    closeSync(out);
  }
}

/** A bridge named like the engine on the first free 10.222.<n>.0/24; its address with prefix. */
async function createBridge(name: string): Promise<string> {
  const used = await usedSubnets();
  // Starting from a number of the name's makes two test files starting engines at once unlikely
  // to pick the same /24 between looking and taking.
  const start = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 254, 0);
  const n = Array.from({ length: 254 }, (_, i) => ((start + i) % 254) + 1).find(
    (k) => !used.has(`${SUBNET_BASE}.${k}`),
  );
  if (n === undefined) throw new Error(`no free /24 in ${SUBNET_BASE}.0.0/16 for bridge ${name}`);
  const address = `${SUBNET_BASE}.${n}.1/24`;
  await execFileP('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
  await execFileP('ip', ['addr', 'add', address, 'dev', name]);
  await execFileP('ip', ['link', 'set', name, 'up']);
  return address;
}

async function waitForEngine(engine: Engine, proc: ChildProcess): Promise<void> {
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null)
          throw new Error(`dockerd exited (${proc.signalCode ?? proc.exitCode})`);
        await execFileP('docker', ['-H', engine.host, 'version'], { timeout: 5_000 });
        return true;
      },
      { what: `engine ${engine.name} to answer`, timeoutMs: START_TIMEOUT_MS, intervalMs: 250 },
    );
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new Error(
      `engine ${engine.name} did not start: ${reason}\n--- last lines of ${engine.log} ---\n${await logTail(engine.log)}`,
    );
  }
}

async function stopEngine(engine: Engine, proc: ChildProcess, dir: string): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    await removeAllContainers(engine).catch(() => undefined);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
  // Its containerd, shims and mounts if dockerd left any; then the dirs.
  await removeLeftovers(dir, engine.bridge);
  await removeBridge(engine.bridge);
}

/** Force-removes every container of the engine. */
export async function removeAllContainers(engine: Pick<Engine, 'socket'>): Promise<void> {
  const docker = engineDocker(engine);
  const list = await docker.listContainers({ all: true });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

/** A dockerode client for the engine. */
export function engineDocker(engine: Pick<Engine, 'socket'>): Docker {
  return new Docker({ socketPath: engine.socket });
}

/** Copies an image of the main engine into this one (docker save | docker -H … load). */
export async function loadImage(engine: Pick<Engine, 'host'>, image: string): Promise<void> {
  const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
  const load = spawn('docker', ['-H', engine.host, 'load'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  save.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  load.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  save.stdout.pipe(load.stdin);
  const [saved, loaded] = await Promise.all([exitCode(save), exitCode(load)]);
  if (saved !== 0 || loaded !== 0)
    throw new Error(`loading ${image} into ${engine.host} failed: ${stderr.trim()}`);
}

function exitCode(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    proc.once('error', () => resolve(null));
    proc.once('close', (code) => resolve(code));
  });
}

/** The engine's images as repo:tag (untagged ones as their id). */
export async function listImages(engine: Pick<Engine, 'socket'>): Promise<string[]> {
  const images = await engineDocker(engine).listImages();
  return images.flatMap((i) => (i.RepoTags?.length ? i.RepoTags : [i.Id])).sort();
}

async function logTail(file: string, lines = 30): Promise<string> {
  if (!existsSync(file)) return '(no log)';
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => (running ??= fn());
}
