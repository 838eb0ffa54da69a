// Benchmark: seconds until 50 busybox replicas run with fleet, with Docker Swarm and with plain `docker run`.
import { promises as fs } from 'node:fs';
import { ensureTestImage, TEST_IMAGE } from '../helpers/docker.js';
import {
  adminClient,
  containersWithLabel,
  dockerAnswers,
  fleetCli,
  goalLine,
  onInterrupt,
  poll,
  printTable,
  rawDockerRuns,
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
const PHASE_TIMEOUT_MS = 180_000;
const POLL_MS = 100;
const GOAL_RATIO = 1.3;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

interface Outcome {
  seconds: number | null;
  note: string;
}

interface FleetOutcome extends Outcome {
  /** When the CLI returned and when service ls first counted a running task. */
  cliReturned: number | null;
  firstRunning: number | null;
}

const secs = (t0: number): number => (performance.now() - t0) / 1000;

/** (c) The engine's own limit: REPLICAS `docker run -d` spawned at once, until all run. */
async function rawPhase(runLabel: string): Promise<Outcome> {
  const { seconds, failed } = await rawDockerRuns(REPLICAS, TEST_IMAGE, runLabel, PHASE_TIMEOUT_MS);
  return {
    seconds,
    note: failed > 0 ? `${failed} docker run failed` : `${REPLICAS} x docker run -d in parallel`,
  };
}

/** (a) fleet: one manager and one docker agent; create --detach, then poll service.ls. */
async function fleetPhase(): Promise<FleetOutcome> {
  const m = await startBenchManager();
  const agent = startBenchAgent(m, {
    name: 'bench-docker',
    address: '127.0.0.2',
    runtime: 'docker',
  });
  const client = await adminClient(m);
  let nodeId = '';
  const forget = onInterrupt(async () => {
    await Promise.all([stopProc(agent.proc), stopProc(m.proc)]);
    if (nodeId) await removeContainersWithLabel(`fleet.node.id=${nodeId}`);
  });
  try {
    const ready = await poll(
      async () =>
        (await client.call('node.ls', {})).find((n) => !n.manager && n.status === 'ready'),
      POLL_MS,
      30_000,
    );
    if (!ready)
      return {
        seconds: null,
        cliReturned: null,
        firstRunning: null,
        note: `agent never became ready (log: ${agent.log})`,
      };
    nodeId = ready.id;
    const t0 = performance.now();
    const created = await fleetCli(m, [
      'service',
      'create',
      '--replicas',
      String(REPLICAS),
      '--detach',
      '--name',
      'bench',
      TEST_IMAGE,
    ]);
    const cliReturned = secs(t0);
    if (created.code !== 0)
      return {
        seconds: null,
        cliReturned,
        firstRunning: null,
        note: `service create failed: ${created.stderr.trim()}`,
      };
    let firstRunning: number | null = null;
    const done = await poll(
      async () => {
        const svc = (await client.call('service.ls', {})).find((s) => s.name === 'bench');
        const running = svc?.replicas.running ?? 0;
        if (running > 0 && firstRunning === null) firstRunning = secs(t0);
        return running >= REPLICAS;
      },
      POLL_MS,
      PHASE_TIMEOUT_MS,
    );
    const seconds = done ? secs(t0) : null;
    return {
      seconds,
      cliReturned,
      firstRunning,
      note: done ? 'manager + 1 docker agent' : `timed out (logs: ${m.log}, ${agent.log})`,
    };
  } finally {
    await client.call('service.rm', { service: 'bench' }).catch(() => undefined);
    if (nodeId)
      await poll(
        async () => (await containersWithLabel(`fleet.node.id=${nodeId}`)).length === 0,
        250,
        60_000,
      );
    await client.close().catch(() => undefined);
    await stopProc(agent.proc);
    await stopProc(m.proc);
    if (nodeId) await removeContainersWithLabel(`fleet.node.id=${nodeId}`);
    await fs.rm(agent.dataDir, { recursive: true, force: true });
    await fs.rm(m.dataDir, { recursive: true, force: true });
    forget();
  }
}

/** (b) Docker Swarm on the same engine: service create --detach, then poll docker service ls. */
async function swarmPhase(name: string): Promise<Outcome> {
  const swarm = await setUpSwarm({ reuse: true });
  if (!swarm.ok) return { seconds: null, note: swarm.why };
  const forget = onInterrupt(async () => {
    await run('docker', ['service', 'rm', name]);
    if (swarm.created) await leaveSwarm(20_000);
    await removeContainersWithLabel(swarmServiceLabel(name));
  });
  try {
    const t0 = performance.now();
    const created = await run('docker', [
      'service',
      'create',
      '--detach',
      '--no-resolve-image',
      '--replicas',
      String(REPLICAS),
      '--name',
      name,
      TEST_IMAGE,
    ]);
    if (created.code !== 0)
      return { seconds: null, note: `service create failed: ${created.stderr.trim()}` };
    const done = await poll(
      async () => (await swarmReplicas(name)) === `${REPLICAS}/${REPLICAS}`,
      POLL_MS,
      PHASE_TIMEOUT_MS,
    );
    return {
      seconds: done ? secs(t0) : null,
      note: done ? (swarm.created ? 'swarm init on 127.0.0.1' : 'existing swarm') : 'timed out',
    };
  } finally {
    await removeSwarmService(name);
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
    `converge: ${REPLICAS} replicas of ${TEST_IMAGE} on one Docker engine, ${ROUNDS} round(s), phases interleaved`,
  );
  if (!(await dockerAnswers())) {
    console.log(
      'Docker engine not reachable: start it with `nohup dockerd > /tmp/dockerd.log 2>&1 &`',
    );
    goalLine(`fleet <= ${GOAL_RATIO}x raw docker run`, null);
    process.exitCode = 1;
    return;
  }
  await ensureTestImage();
  const raw: Outcome[] = [];
  const fleet: FleetOutcome[] = [];
  const swarm: Outcome[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    raw.push(await rawPhase(`fleet.bench=converge-${process.pid}-${round}`));
    await sleep(2_000);
    fleet.push(await fleetPhase());
    await sleep(2_000);
    swarm.push(await swarmPhase(`bench-${process.pid}-${round}`));
    const last = (o: Outcome[]): string => fmt(o[o.length - 1]?.seconds ?? null);
    console.log(
      `round ${round}: raw ${last(raw)} s, fleet ${last(fleet)} s, swarm ${last(swarm)} s`,
    );
    await sleep(2_000);
  }
  const r = median(raw.map((o) => o.seconds));
  const f = median(fleet.map((o) => o.seconds));
  const w = median(swarm.map((o) => o.seconds));
  const all = (o: Outcome[]): string => o.map((x) => fmt(x.seconds)).join(' / ');
  const notes = (o: Outcome[]): string => [...new Set(o.map((x) => x.note))].join('; ');
  console.log('');
  printTable(
    [
      ['system', 'median s', 'vs raw', 'rounds (s)', 'how'],
      ['raw docker run', fmt(r), '1.00x', all(raw), notes(raw)],
      [
        'fleet',
        fmt(f),
        ratio(f, r),
        all(fleet),
        `${notes(fleet)}; CLI back after ${fmt(median(fleet.map((o) => o.cliReturned)))} s, first task running after ${fmt(median(fleet.map((o) => o.firstRunning)))} s`,
      ],
      ['docker swarm', fmt(w), ratio(w, r), all(swarm), notes(swarm)],
    ],
    'lrrrl',
  );
  console.log(
    `ratios (medians): fleet/raw ${ratio(f, r)}, swarm/raw ${ratio(w, r)}, fleet/swarm ${ratio(f, w)}`,
  );
  goalLine(
    `fleet <= ${GOAL_RATIO}x raw docker run`,
    f !== null && r !== null ? f <= GOAL_RATIO * r : false,
  );
}

main().catch((e: unknown) => {
  console.error(`converge: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
