// A run of `fleet sim agents`: the data dir, the managers and token, the ramp with its progress, and the clean stop on a signal.
import os from 'node:os';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import { createLogger } from '../../shared/log.js';
import { waitForShutdownSignal } from '../../shared/signals.js';
import { insecureRequested } from '../../shared/transport.js';
import { boardName } from './addresses.js';
import type { SimPlan } from './flags.js';
import { SimFleet, type SimCounts } from './fleet.js';

/** Where the local cluster is and how a worker joins it, as the current context tells. */
export interface LocalCluster {
  managers: string[];
  token: string;
  insecure: boolean;
}
export type FindLocalCluster = (insecure: boolean) => Promise<LocalCluster>;

/** The period of the timer that keeps the process alive; it does nothing when it fires. */
const KEEP_ALIVE_MS = 3_600_000;
const PROGRESS_MS = 1_000;
const CONNECTED_POLL_MS = 250;

/** Runs the boards until SIGINT or SIGTERM; rejects (after stopping them) when they cannot start. */
export async function runSim(
  plan: SimPlan,
  findLocal: FindLocalCluster,
  clock: Clock = systemClock,
): Promise<void> {
  const signal = waitForShutdownSignal();
  let signalled = false;
  void signal.then(() => (signalled = true));
  const keepAlive = setInterval(() => undefined, KEEP_ALIVE_MS);
  const root = await dataDirOf(plan);
  const fleet = await fleetFor(plan, root, findLocal, clock).catch(async (e: unknown) => {
    await removeDataDir(plan, root);
    clearInterval(keepAlive);
    throw e;
  });
  const progress = plan.quiet
    ? undefined
    : clock.setInterval(() => process.stderr.write(progressLine(fleet.counts())), PROGRESS_MS);
  const ramp = fleet.ramp();
  ramp.catch(() => undefined); // awaited below, unless a signal comes first
  try {
    await Promise.race([ramp, signal]);
    if (!signalled) {
      await ramp;
      const c = fleet.counts();
      if (c.failed > 0)
        throw new Error(`${c.failed} of ${c.count} boards could not start: ${c.lastError}`);
      while (!signalled && fleet.counts().connected < plan.count)
        await clock.sleep(CONNECTED_POLL_MS);
    }
    if (progress) clock.clearInterval(progress);
    if (!signalled) {
      process.stdout.write(`${plan.count} simulated agents connected\n`);
      if (plan.readyFile) await writeReadyFile(plan.readyFile, fleet.counts(), root);
      await signal;
    }
  } finally {
    if (progress) clock.clearInterval(progress);
    await fleet.stop();
    // A join still under way would write its identity into a removed folder.
    await ramp.catch(() => undefined);
    await removeDataDir(plan, root);
    clearInterval(keepAlive);
  }
}

/** The fleet of boards, with the managers and token the flags or the local cluster give. */
async function fleetFor(
  plan: SimPlan,
  root: string,
  findLocal: FindLocalCluster,
  clock: Clock,
): Promise<SimFleet> {
  let managers = plan.managers;
  let token = plan.token;
  let insecure = insecureRequested(plan.insecure);
  const needJoin = (await unjoinedBoards(plan, root)) > 0;
  // Boards that all joined before need neither: without --manager they dial the managers
  // their identities name, as `agent start` does.
  if (needJoin && (token === undefined || managers.length === 0)) {
    const local = await findLocal(insecure).catch((e: unknown) => {
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(`pass --manager and --token: the local cluster could not be asked (${why})`);
    });
    if (managers.length === 0) managers = local.managers;
    token ??= local.token;
    insecure ||= local.insecure;
  }
  return new SimFleet({
    count: plan.count,
    prefix: plan.prefix,
    addresses: plan.addresses,
    root,
    managers,
    ...(token !== undefined ? { token } : {}),
    labels: plan.labels,
    insecure,
    allowChaos: plan.allowChaos,
    joinRate: plan.joinRate,
    clock,
    logger: createLogger('sim', { level: plan.verbose ? 'info' : 'warn' }),
  });
}

export function progressLine(c: SimCounts): string {
  const reused = c.reused > 0 ? ` (${c.reused} from earlier runs)` : '';
  const failed = c.failed > 0 ? `, ${c.failed} failed (${c.lastError})` : '';
  const identified = c.joined + c.reused;
  return `sim: ${identified}/${c.count} joined${reused}, ${c.connected}/${c.count} connected${failed}\n`;
}

/** Boards of this run with no identity from an earlier one. */
async function unjoinedBoards(plan: SimPlan, root: string): Promise<number> {
  let missing = 0;
  for (let n = 1; n <= plan.count; n++) {
    const file = path.join(root, boardName(plan.prefix, n, plan.count), 'identity.json');
    if (!(await fs.stat(file).catch(() => null))) missing++;
  }
  return missing;
}

/** The given folder, or a new one in memory-backed storage: fsyncs of many small files are not the point. */
async function dataDirOf(plan: SimPlan): Promise<string> {
  if (plan.dataDir) {
    const dir = path.resolve(plan.dataDir);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
  const shm = (await fs.stat('/dev/shm').catch(() => null))?.isDirectory() === true;
  return fs.mkdtemp(path.join(shm ? '/dev/shm' : os.tmpdir(), 'fleet-sim-'));
}

/**
 * Removes the boards' folders, then the data dir if that left it empty: a --data-dir that
 * held anything else keeps it (and says so) rather than losing it.
 */
async function removeDataDir(plan: SimPlan, root: string): Promise<void> {
  if (plan.keep) return;
  for (let n = 1; n <= plan.count; n++) {
    const dir = path.join(root, boardName(plan.prefix, n, plan.count));
    await fs.rm(dir, { recursive: true, force: true });
  }
  await fs.rmdir(root).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') process.stderr.write(`warning: kept ${root}: it holds other files\n`);
  });
}

async function writeReadyFile(file: string, c: SimCounts, root: string): Promise<void> {
  const line = { ...c, dataDir: root, pid: process.pid };
  await writeFileAtomic(path.resolve(file), JSON.stringify(line) + '\n', 0o644);
}
