// Benchmark: seconds to update 50 busybox tasks from one image to another all at once, with fleet
// and with Docker Swarm on the same engine, in one run.
import Docker from 'dockerode';
import { promises as fs } from 'node:fs';
import { ensureTestImage, TEST_IMAGE } from '../helpers/docker.js';
import { runLimited, Slots } from '../../shared/limit.js';
import type { RpcClient } from '../../manager/cli/rpc-client.js';
import { DEFAULT_UPDATE } from '../../shared/spec.js';
import {
  adminClient,
  containersWithLabel,
  dockerAnswers,
  fleetCli,
  goalLine,
  onInterrupt,
  poll,
  printTable,
  removeContainersWithLabel,
  run,
  sleep,
  startBenchAgent,
  startBenchManager,
  stopProc,
} from './lib.js';
import {
  leaveSwarm,
  removeSwarmService,
  setUpSwarm,
  swarmReplicas,
  swarmServiceLabel,
} from './swarm.js';

const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 50);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
const SERVICE = 'bench-rollout';
const V1 = 'fleet-bench/web:v1';
const V2 = 'fleet-bench/web:v2';
/** Bounds the creation of the service, and separately its update. */
const STEP_TIMEOUT_MS = 300_000;
const POLL_MS = 250;
const GOAL_RATIO = 0.5;
/** fleet's manager and agent listen on these loopback addresses. */
/** BENCH_STOP_GRACE (e.g. 1s): the stop grace period of both services, by default their own (10 s). */
const STOP_GRACE = process.env.BENCH_STOP_GRACE;
const graceArgs = STOP_GRACE ? ['--stop-grace-period', STOP_GRACE] : [];
/** BENCH_ORDER=start-first: both systems start each new task before stopping its old one. */
const ORDER = process.env.BENCH_ORDER === 'start-first' ? 'start-first' : 'stop-first';
const orderArgs = ORDER === 'start-first' ? ['--update-order', 'start-first'] : [];
/** BENCH_ONLY=fleet, swarm or engine: time one of them alone (no ratio), to study it. */
const ONLY = process.env.BENCH_ONLY;
const MANAGER_HOST = '127.0.0.60';
const AGENT_ADDRESS = '127.0.0.61';

interface Outcome {
  /** Until the update command returned, or null when it failed or timed out. */
  seconds: number | null;
  /** When all REPLICAS tasks of the new image were first seen running. */
  newRunning: number | null;
  /** When no container of the old image was left running. */
  oldGone: number | null;
  /** Containers of the old image still present when the command returned. */
  oldLeftAtReturn: number | null;
  note: string;
  samples?: Sample[];
}

const failed = (note: string): Outcome => ({
  seconds: null,
  newRunning: null,
  oldGone: null,
  oldLeftAtReturn: null,
  note,
});

const secs = (t0: number): number => (performance.now() - t0) / 1000;

/** The image id a tag points to. */
async function imageId(tag: string): Promise<string | null> {
  const r = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag]);
  return r.code === 0 ? r.stdout.trim() : null;
}

/**
 * v1 and v2: the test image committed twice with a different label, so the two tags are two
 * images (the containers really change) that need no registry.
 */
async function ensureBenchImages(): Promise<{ v1: string; v2: string }> {
  await ensureTestImage();
  const ids: string[] = [];
  for (const [tag, version] of [
    [V1, 'v1'],
    [V2, 'v2'],
  ] as const) {
    let id = await imageId(tag);
    if (!id) {
      const name = `bench-rollout-image-${process.pid}-${version}`;
      const created = await run('docker', ['create', '--name', name, TEST_IMAGE]);
      if (created.code !== 0) throw new Error(`docker create failed: ${created.stderr.trim()}`);
      try {
        const commit = await run('docker', [
          'commit',
          '--change',
          `LABEL fleet.bench.version=${version}`,
          name,
          tag,
        ]);
        if (commit.code !== 0) throw new Error(`docker commit failed: ${commit.stderr.trim()}`);
      } finally {
        await run('docker', ['rm', '-f', name]);
      }
      id = await imageId(tag);
    }
    if (!id) throw new Error(`image ${tag} missing`);
    ids.push(id);
  }
  const [v1, v2] = ids as [string, string];
  if (v1 === v2) throw new Error(`${V1} and ${V2} are the same image`);
  return { v1, v2 };
}

/** Running state and image id of the containers carrying the label, by container. */
async function containerImages(label: string): Promise<{ image: string; running: boolean }[]> {
  const ids = await containersWithLabel(label);
  const out: { image: string; running: boolean }[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    const r = await run('docker', [
      'inspect',
      '--format',
      '{{.Image}} {{.State.Running}}',
      ...ids.slice(i, i + 50),
    ]);
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const [image, running] = line.split(' ');
      out.push({ image: image ?? '', running: running === 'true' });
    }
  }
  return out;
}

/**
 * Checks that exactly REPLICAS containers run, all of the new image (start-first: REPLICAS of
 * the new image run); a problem, or null.
 */
async function checkContainers(label: string, v2Id: string): Promise<string | null> {
  const all = await containerImages(label);
  const running = all.filter((c) => c.running);
  const fresh = running.filter((c) => c.image === v2Id).length;
  const wrong = running.length - fresh;
  // Start-first: old tasks may still wait out their stop grace period after the update.
  if (ORDER === 'start-first' ? fresh !== REPLICAS : running.length !== REPLICAS || wrong > 0)
    return `${running.length} containers running, ${wrong} not of ${V2}`;
  return null;
}

/** One poll during an update: seconds since it began, old and new containers running. */
interface Sample {
  at: number;
  old: number;
  new: number;
}

interface Watched {
  newRunning: number | null;
  oldGone: number | null;
  samples: Sample[];
}

/**
 * Polls during an update: when REPLICAS tasks of the new image first run (as the system reports
 * them), when no container of the old image runs any more, and how many of each run over time
 * (as the engine reports them).
 */
function watchUpdate(
  label: string,
  ids: { v1: string; v2: string },
  newRunning: () => Promise<number>,
): { t0: () => void; stop: () => Promise<Watched> } {
  let start = 0;
  let stopped = false;
  let seenNew: number | null = null;
  let seenGone: number | null = null;
  const samples: Sample[] = [];
  let loop: Promise<void> = Promise.resolve();
  return {
    t0: () => {
      start = performance.now();
      loop = (async () => {
        while (!stopped && (seenNew === null || seenGone === null)) {
          const at = secs(start);
          if (seenNew === null && (await newRunning().catch(() => 0)) >= REPLICAS) seenNew = at;
          const running = (await containerImages(label)).filter((c) => c.running);
          const old = running.filter((c) => c.image === ids.v1).length;
          samples.push({ at, old, new: running.filter((c) => c.image === ids.v2).length });
          if (seenGone === null && old === 0) seenGone = at;
          await sleep(POLL_MS);
        }
      })();
    },
    stop: async () => {
      // Give the watcher a moment to see what the command already waited for.
      await Promise.race([loop, sleep(3_000)]);
      stopped = true;
      await loop;
      return { newRunning: seenNew, oldGone: seenGone, samples };
    },
  };
}

/** The samples about every 2 s, as "seconds old/new" pairs. */
function timeline(samples: Sample[]): string {
  const out: string[] = [];
  let next = 0;
  for (const s of samples) {
    if (s.at < next && s !== samples[samples.length - 1]) continue;
    out.push(`${s.at.toFixed(1)} ${s.old}/${s.new}`);
    next = s.at + 2;
  }
  return out.join(', ');
}

async function countOld(label: string, v1Id: string): Promise<number> {
  return (await containerImages(label)).filter((c) => c.image === v1Id).length;
}

/** fleet: a manager and one docker agent; create at v1, then time `fleet service update`. */
async function fleetPhase(ids: { v1: string; v2: string }): Promise<Outcome> {
  const m = await startBenchManager({ host: MANAGER_HOST });
  const agent = startBenchAgent(m, {
    name: 'bench-rollout',
    address: AGENT_ADDRESS,
    runtime: 'docker',
  });
  let client: RpcClient | null = null;
  let nodeId = '';
  const forget = onInterrupt(async () => {
    await Promise.all([stopProc(agent.proc), stopProc(m.proc)]);
    if (nodeId) await removeContainersWithLabel(`fleet.node.id=${nodeId}`);
  });
  const label = `fleet.service.name=${SERVICE}`;
  try {
    const c = (client = await adminClient(m));
    const ready = await poll(
      async () => (await c.call('node.ls', {})).find((n) => !n.manager && n.status === 'ready'),
      100,
      30_000,
    );
    if (!ready) return failed(`agent never became ready (log: ${agent.log})`);
    nodeId = ready.id;
    const help = await fleetCli(m, ['service', 'update', '--help']);
    const parallelism = help.stdout.includes('--update-parallelism');
    const created = await fleetCli(
      m,
      ['service', 'create', '--name', SERVICE, '--replicas', String(REPLICAS), ...graceArgs, V1],
      STEP_TIMEOUT_MS,
    );
    if (created.code !== 0) return failed(`service create failed: ${created.stderr.trim()}`);
    const up = await poll(
      async () =>
        ((await c.call('service.ls', {})).find((s) => s.name === SERVICE)?.replicas.running ?? 0) >=
        REPLICAS,
      POLL_MS,
      60_000,
    );
    if (!up) return failed(`${REPLICAS} tasks of ${V1} never ran (log: ${agent.log})`);
    await sleep(1_000);
    const watch = watchUpdate(label, ids, async () => {
      const tasks = await c.call('service.ps', { service: SERVICE, all: false });
      return tasks.filter(
        (t) => t.desiredState === 'running' && t.state === 'running' && t.image === V2,
      ).length;
    });
    const args = ['service', 'update', SERVICE, '--image', V2, '--timeout', '5m'];
    if (parallelism) args.push('--update-parallelism', '0', ...orderArgs);
    watch.t0();
    const t0 = performance.now();
    const updated = await fleetCli(m, args, STEP_TIMEOUT_MS);
    const seconds = secs(t0);
    const oldLeftAtReturn = await countOld(label, ids.v1);
    const seen = await watch.stop();
    if (updated.code !== 0)
      return { ...failed(`service update failed: ${updated.stderr.trim()}`), ...seen };
    const tasks = await c.call('service.ps', { service: SERVICE, all: false });
    const live = tasks.filter((t) => t.desiredState === 'running');
    const stale = live.filter((t) => t.image !== V2 || t.state !== 'running').length;
    const problem =
      live.length !== REPLICAS || stale > 0
        ? `${live.length} tasks desired running, ${stale} not running ${V2}`
        : await checkContainers(label, ids.v2);
    const how = parallelism ? '--update-parallelism 0' : 'no --update-parallelism flag yet';
    return {
      seconds: problem ? null : seconds,
      ...seen,
      oldLeftAtReturn,
      note: problem ? `not converged: ${problem}` : `manager + 1 docker agent, ${how}`,
    };
  } finally {
    if (client) {
      await client.call('service.rm', { service: SERVICE }).catch(() => undefined);
      await client.close().catch(() => undefined);
    }
    // The stopping containers would each take their whole stop grace period; force them.
    await stopProc(agent.proc);
    await stopProc(m.proc);
    if (nodeId) await removeContainersWithLabel(`fleet.node.id=${nodeId}`);
    await fs.rm(agent.dataDir, { recursive: true, force: true });
    await fs.rm(m.dataDir, { recursive: true, force: true });
    forget();
  }
}

/** The update monitor period both systems use by default (Swarm's too); the engine floor adds it. */
const MONITOR_S = DEFAULT_UPDATE.monitorMs / 1000;
/** Starts at once in the engine-floor phase, as a fleet agent runs them. */
const FLOOR_STARTS = 16;
const FLOOR_LABEL = 'fleet.bench.floor';

/**
 * The engine alone, as a lower bound: REPLICAS containers of v1 straight through the engine's
 * API; then, per slot, its container is killed and the v2 one created and started as soon as
 * that returns (FLOOR_STARTS starts at a time); the monitor period is added, not waited. No
 * orchestrator that stops before it starts can update faster on this engine.
 */
async function enginePhase(): Promise<Outcome> {
  const docker = new Docker();
  const label = `${FLOOR_LABEL}=${process.pid}`;
  const forget = onInterrupt(() => removeContainersWithLabel(label));
  const run = async (image: string, slot: number): Promise<Docker.Container> => {
    const c = await docker.createContainer({
      name: `bench-floor-${process.pid}-${slot}-${image.replace(/\W/g, '-')}`,
      Image: image,
      Labels: { [FLOOR_LABEL]: String(process.pid) },
      HostConfig: { RestartPolicy: { Name: 'no' } },
    });
    await c.start();
    await c.inspect();
    return c;
  };
  try {
    const slots = Array.from({ length: REPLICAS }, (_, i) => i);
    const old: Docker.Container[] = [];
    await runLimited(slots, FLOOR_STARTS, async (i) => {
      old[i] = await run(V1, i);
    });
    await sleep(1_000);
    const starts = new Slots(FLOOR_STARTS);
    let lastRunning = 0;
    const t0 = performance.now();
    await Promise.all(
      slots.map(async (i) => {
        await old[i]?.stop({ t: 0 });
        await starts.run(async () => {
          await run(V2, i);
          lastRunning = secs(t0);
        });
      }),
    );
    return {
      seconds: lastRunning + MONITOR_S,
      newRunning: lastRunning,
      oldGone: null,
      oldLeftAtReturn: null,
      note: `engine API only: kill, then create and start, per slot; + ${MONITOR_S} s monitor`,
    };
  } catch (e) {
    return failed(`engine phase failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await removeContainersWithLabel(label);
    forget();
  }
}

/** The tasks Swarm wants running, as "image state" lines. */
async function swarmTasks(): Promise<string[]> {
  const r = await run('docker', [
    'service',
    'ps',
    SERVICE,
    '--filter',
    'desired-state=running',
    '--format',
    '{{.Image}} {{.CurrentState}}',
  ]);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** Docker Swarm on the same engine, in a swarm of its own: create at v1, then time the update. */
async function swarmPhase(ids: { v1: string; v2: string }): Promise<Outcome> {
  const swarm = await setUpSwarm({ reuse: false });
  if (!swarm.ok) return failed(swarm.why);
  const label = swarmServiceLabel(SERVICE);
  const forget = onInterrupt(async () => {
    await run('docker', ['service', 'rm', SERVICE]);
    if (swarm.created) await leaveSwarm(20_000);
    await removeContainersWithLabel(label);
  });
  try {
    // Without a registry the image cannot be resolved to a digest: tasks use the local tag.
    const created = await run(
      'docker',
      [
        'service',
        'create',
        '--no-resolve-image',
        '--name',
        SERVICE,
        '--replicas',
        String(REPLICAS),
        ...graceArgs,
        V1,
      ],
      STEP_TIMEOUT_MS,
    );
    if (created.code !== 0) return failed(`service create failed: ${created.stderr.trim()}`);
    const up = await poll(
      async () => (await swarmReplicas(SERVICE)) === `${REPLICAS}/${REPLICAS}`,
      POLL_MS,
      60_000,
    );
    if (!up) return failed(`${REPLICAS} tasks of ${V1} never ran`);
    await sleep(1_000);
    const watch = watchUpdate(
      label,
      ids,
      async () => (await swarmTasks()).filter((l) => l.startsWith(`${V2} Running`)).length,
    );
    watch.t0();
    const t0 = performance.now();
    const updated = await run(
      'docker',
      [
        'service',
        'update',
        '--no-resolve-image',
        '--image',
        V2,
        '--update-parallelism',
        '0',
        ...orderArgs,
        SERVICE,
      ],
      STEP_TIMEOUT_MS,
    );
    const seconds = secs(t0);
    const oldLeftAtReturn = await countOld(label, ids.v1);
    const seen = await watch.stop();
    if (updated.code !== 0)
      return { ...failed(`service update failed: ${updated.stderr.trim()}`), ...seen };
    const tasks = await swarmTasks();
    const stale = tasks.filter((l) => !l.startsWith(`${V2} Running`)).length;
    const problem =
      tasks.length !== REPLICAS || stale > 0
        ? `${tasks.length} tasks desired running, ${stale} not running ${V2}`
        : await checkContainers(label, ids.v2);
    return {
      seconds: problem ? null : seconds,
      ...seen,
      oldLeftAtReturn,
      note: problem ? `not converged: ${problem}` : 'swarm init on 127.0.0.1',
    };
  } finally {
    await removeSwarmService(SERVICE);
    if (swarm.created) await leaveSwarm();
    forget();
  }
}

const fmt = (s: number | null): string => (s === null ? 'n/a' : s.toFixed(2));
const ratio = (a: number | null, b: number | null): string =>
  a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`;

/** The median of the rounds that finished; null when none did. */
function median(values: (number | null)[]): number | null {
  const ok = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (ok.length === 0) return null;
  const mid = Math.floor(ok.length / 2);
  return ok.length % 2 === 1 ? (ok[mid] ?? null) : ((ok[mid - 1] ?? 0) + (ok[mid] ?? 0)) / 2;
}

async function main(): Promise<void> {
  console.log(
    `rollout: update ${REPLICAS} tasks ${V1} -> ${V2} all at once, fleet vs Docker Swarm on one ` +
      `engine, ${ROUNDS} round(s), order alternating, update order ${ORDER}, stop grace period ` +
      `${STOP_GRACE ?? 'default (10s)'}`,
  );
  if (!(await dockerAnswers())) {
    console.log(
      'Docker engine not reachable: start it with `nohup dockerd > /tmp/dockerd.log 2>&1 &`',
    );
    goalLine(`fleet <= ${GOAL_RATIO}x Docker Swarm`, null);
    process.exitCode = 1;
    return;
  }
  const state = (await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout;
  if (state.trim() !== 'inactive') {
    console.log(
      `the engine is already in a swarm (state ${state.trim() || 'unknown'}): this benchmark ` +
        'needs to create and leave a swarm of its own; it leaves that one alone and stops',
    );
    goalLine(`fleet <= ${GOAL_RATIO}x Docker Swarm`, null);
    process.exitCode = 1;
    return;
  }
  const ids = await ensureBenchImages();
  const fleet: Outcome[] = [];
  const swarm: Outcome[] = [];
  const floor: Outcome[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? ['fleet', 'swarm', 'engine'] : ['engine', 'swarm', 'fleet'];
    // The engine floor is that of a stop-first update.
    const systems = order.filter(
      (o) => (ONLY === undefined || o === ONLY) && !(o === 'engine' && ORDER === 'start-first'),
    );
    for (const system of systems) {
      if (system === 'fleet') fleet.push(await fleetPhase(ids));
      else if (system === 'swarm') swarm.push(await swarmPhase(ids));
      else floor.push(await enginePhase());
      await sleep(2_000);
    }
    const last = (o: Outcome[]): string => fmt(o[o.length - 1]?.seconds ?? null);
    console.log(`round ${round}: fleet ${last(fleet)} s, swarm ${last(swarm)} s`);
  }
  const f = median(fleet.map((o) => o.seconds));
  const w = median(swarm.map((o) => o.seconds));
  const e = median(floor.map((o) => o.seconds));
  const all = (o: Outcome[]): string => o.map((x) => fmt(x.seconds)).join(' / ');
  const notes = (o: Outcome[]): string => [...new Set(o.map((x) => x.note))].join('; ');
  const row = (name: string, o: Outcome[], r: string): string[] => [
    name,
    fmt(median(o.map((x) => x.seconds))),
    r,
    all(o),
    fmt(median(o.map((x) => x.newRunning))),
    fmt(median(o.map((x) => x.oldGone))),
    String(median(o.map((x) => x.oldLeftAtReturn)) ?? 'n/a'),
    notes(o),
  ];
  console.log('');
  printTable(
    [
      [
        'system',
        'update s',
        'vs swarm',
        'rounds (s)',
        'all new running s',
        'old stopped s',
        'old left',
        'how',
      ],
      row('fleet', fleet, ratio(f, w)),
      row('docker swarm', swarm, '1.00x'),
      row('engine floor', floor, ratio(e, w)),
    ],
    'lrrrrrrl',
  );
  console.log(
    'update s: from starting the update command until it returned (medians); both wait until ' +
      `converged, with the same update settings (parallelism 0, ${ORDER}, monitor 5 s). fleet: ` +
      '`fleet service update` follows the update until every new task has stayed running for ' +
      'the monitor period and the update is completed. swarm: `docker service update` waits ' +
      'until the tasks of the new spec all run ' +
      'and then that they stay up for the update monitor period (5 s by default).',
  );
  console.log(
    `all new running s / old stopped s: when ${REPLICAS} tasks of ${V2} were first seen running ` +
      `and when no ${V1} container ran any more, polled every ${POLL_MS} ms; old left: ${V1} ` +
      'containers still on the engine (stopped or not) when the command returned.',
  );
  console.log(
    `engine floor: the same update done straight through the engine's API (per slot: kill, ` +
      `then create and start, ${FLOOR_STARTS} starts at a time), plus the ${MONITOR_S} s monitor ` +
      'period: the least time any orchestrator needs on this engine when it stops old tasks ' +
      `first. fleet's time above it: ${fmt(f !== null && e !== null ? f - e : null)} s.`,
  );
  console.log(`containers running over the update (seconds old/new), per round:`);
  const timelines = (name: string, o: Outcome[]): void =>
    o.forEach((x, i) => console.log(`  ${name} ${i + 1}: ${timeline(x.samples ?? [])}`));
  timelines('fleet', fleet);
  timelines('swarm', swarm);
  console.log(`fleet/swarm ${ratio(f, w)}`);
  goalLine(
    `fleet <= ${GOAL_RATIO}x Docker Swarm`,
    f !== null && w !== null ? f <= GOAL_RATIO * w : false,
  );
}

main().catch((e: unknown) => {
  console.error(`rollout: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
