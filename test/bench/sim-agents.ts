// Child process of the control-plane benchmark: many simulated boards (agent/sim: real Agent objects on fake engines) joining one manager.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SimFleet } from '../../agent/sim/fleet.js';
import { systemClock } from '../../shared/clock.js';
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
  /** Boards that gave up joining after their retries. */
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
let fleet: SimFleet | undefined;
let root = '';

/** Agent data dirs go to memory when possible: fsyncs of 2,000 assignment files are not the point. */
async function makeRoot(): Promise<string> {
  const base = (await fs.stat('/dev/shm').catch(() => null))?.isDirectory()
    ? '/dev/shm'
    : os.tmpdir();
  return fs.mkdtemp(path.join(base, 'fleet-sim-'));
}

function progress(): SimProgress {
  const c = fleet?.counts();
  return {
    type: 'progress',
    root,
    wanted: config.count,
    joined: c ? c.joined + c.reused : 0,
    started: c?.started ?? 0,
    connected: c?.connected ?? 0,
    joinFailures: c?.failed ?? 0,
    lastError: c?.lastError ?? '',
    fakeStarts: (fleet?.boards ?? []).reduce((n, b) => n + b.runtime.starts, 0),
  };
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
  fleet = new SimFleet({
    count: config.count,
    // Names stay unique across the simulation processes of one run.
    prefix: config.firstIndex === undefined ? 'sim' : `sim${config.firstIndex}`,
    // One address per process: the benchmark publishes no ports.
    addresses: {
      kind: 'shared',
      address: config.addressPrefix ? `${config.addressPrefix}.1` : '127.0.0.2',
    },
    root,
    managers: [config.manager],
    token: config.token,
    labels: config.labels,
    insecure: false,
    allowChaos: false,
    joinRate: config.ratePerSec,
    inFlight: config.inFlight,
    clock: systemClock,
    logger: createLogger('sim-agent', { level: 'warn' }),
  });
  await fleet.ramp().catch(() => undefined); // the parent reads the failure in the progress
  process.send?.(progress());
  // Keeps running (the agents' sockets hold the loop) until the parent stops it.
}

void main();
