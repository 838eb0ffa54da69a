// Child process of the control-plane benchmark: many real Agent instances (FakeRuntime) joining one manager.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../../agent/reconcile/agent.js';
import { joinCluster } from '../../shared/join-client.js';
import { FakeRuntime } from '../../agent/runtime/fake.js';
import type { Identity } from '../../shared/identity.js';
import { createLogger } from '../../shared/log.js';

/** What the parent is told, over IPC, every second and on request. */
export interface SimProgress {
  type: 'progress';
  /** Where the agents' data dirs are (tmpfs when there is one), for the parent to remove. */
  root: string;
  wanted: number;
  joined: number;
  started: number;
  connected: number;
  joinFailures: number;
  lastError: string;
  fakeStarts: number;
}

export interface SimConfig {
  manager: string;
  token: string;
  count: number;
  /** Joins started per second at most. */
  ratePerSec: number;
  /** Joins in flight at most. */
  inFlight: number;
  labels: Record<string, string>;
  /** The first agent's number (names sim-<n>), so several processes make distinct names. */
  firstIndex?: number;
  /** Three octets (e.g. 127.44.1): agent i advertises <prefix>.<1..250>; default 127.0.0.2. */
  addressPrefix?: string;
}

const config = JSON.parse(process.env.FLEET_SIM_CONFIG ?? '{}') as SimConfig;
const logger = createLogger('sim-agent', { level: 'warn' });
const agents: Agent[] = [];
const runtimes: FakeRuntime[] = [];
let joined = 0;
let joinFailures = 0;
let lastError = '';
let root = '';

/** Agent data dirs go to memory when possible: fsyncs of 2,000 assignment files are not the point. */
async function makeRoot(): Promise<string> {
  const base = (await fs.stat('/dev/shm').catch(() => null))?.isDirectory()
    ? '/dev/shm'
    : os.tmpdir();
  return fs.mkdtemp(path.join(base, 'fleet-sim-'));
}

function progress(): SimProgress {
  return {
    type: 'progress',
    root,
    wanted: config.count,
    joined,
    started: agents.length,
    connected: agents.filter((a) => a.connected).length,
    joinFailures,
    lastError,
    fakeStarts: runtimes.reduce((n, r) => n + r.starts, 0),
  };
}

/** The address agent i advertises: one of 250 in its process's range, or the old fixed one. */
function addressOf(i: number): string {
  return config.addressPrefix ? `${config.addressPrefix}.${(i % 250) + 1}` : '127.0.0.2';
}

async function joinWithRetry(i: number): Promise<Identity | null> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      return await joinCluster({
        managers: [config.manager],
        token: config.token,
        name: `sim-${String(i).padStart(4, '0')}`,
        address: addressOf(i),
        platform: { os: 'linux', arch: 'arm64' },
        labels: config.labels,
        timeoutMs: 30_000,
      });
    } catch (e) {
      joinFailures++;
      lastError = e instanceof Error ? e.message : String(e);
      await sleep(500 * attempt);
    }
  }
  return null;
}

async function startOne(i: number, root: string): Promise<void> {
  const identity = await joinWithRetry(i);
  if (!identity) return;
  joined++;
  const runtime = new FakeRuntime();
  const dataDir = path.join(root, String(i));
  await fs.mkdir(dataDir, { recursive: true });
  const agent = new Agent({
    identity,
    managers: [config.manager],
    dataDir,
    advertiseAddr: addressOf(i),
    // Thousands of agents share a few addresses: none serves image blobs to neighbours.
    blobPort: null,
    runtime,
    logger,
  });
  await agent.start();
  agents.push(agent);
  runtimes.push(runtime);
}

async function main(): Promise<void> {
  root = await makeRoot();
  const cleanup = (): void => {
    void fs.rm(root, { recursive: true, force: true }).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on('SIGTERM', cleanup);
  process.on('SIGINT', cleanup);
  process.on('disconnect', cleanup);
  process.on('message', () => process.send?.(progress()));
  const report = setInterval(() => process.send?.(progress()), 1_000);
  report.unref();
  const gapMs = 1000 / Math.max(1, config.ratePerSec);
  const inFlight = new Set<Promise<void>>();
  const first = config.firstIndex ?? 0;
  for (let i = first; i < first + config.count; i++) {
    while (inFlight.size >= config.inFlight) await Promise.race(inFlight);
    const p: Promise<void> = startOne(i, root)
      .catch((e: unknown) => {
        lastError = e instanceof Error ? e.message : String(e);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    await sleep(gapMs);
  }
  await Promise.all(inFlight);
  process.send?.(progress());
  // Keeps running (the agents' timers and sockets hold the loop) until the parent stops it.
}

void main();
