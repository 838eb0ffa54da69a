// Benchmark `stack`: a 10-service, 30-task stack deployed by fleet, by `docker stack deploy` and by raw `docker run`; then a request by name across nodes vs to the task's address.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
  removeStackBridges,
  run,
  sleep,
  startBenchAgent,
  startBenchManager,
  stopProc,
} from './lib.js';
import { nameLatency } from './stack-names.js';
import { leaveSwarm, setUpSwarm } from './swarm.js';

const SERVICES = 10;
const REPLICAS = 3;
const TASKS = SERVICES * REPLICAS;
const PHASE_TIMEOUT_MS = 180_000;
const POLL_MS = 100;
const GOAL_RATIO = 1.2;
const STACK_LABEL = 'com.docker.stack.namespace';

const secs = (t0: number): number => (performance.now() - t0) / 1000;

/** Ten services of three replicas each, the test image's httpd in each. */
function composeText(): string {
  const lines = ['services:'];
  for (let i = 1; i <= SERVICES; i++)
    lines.push(
      `  s${i}:`,
      `    image: ${TEST_IMAGE}`,
      '    deploy:',
      `      replicas: ${REPLICAS}`,
    );
  return `${lines.join('\n')}\n`;
}

interface Outcome {
  seconds: number | null;
  note: string;
}

/** The engine's floor: TASKS `docker run -d` at once, until all run. */
async function rawPhase(label: string): Promise<Outcome> {
  const { seconds, failed } = await rawDockerRuns(TASKS, TEST_IMAGE, label);
  return { seconds, note: failed ? `${failed} docker run failed` : `${TASKS} x docker run -d` };
}

/**
 * The floor for tasks that find each other by name: the same runs on one user-defined bridge
 * network, where the engine also sets up its embedded DNS for every container.
 */
async function rawNetworkPhase(label: string): Promise<Outcome> {
  const net = `fleet-bench-net-${process.pid}`;
  await run('docker', ['network', 'create', net]);
  try {
    const { seconds, failed } = await rawDockerRuns(TASKS, TEST_IMAGE, label, 180_000, [
      '--network',
      net,
    ]);
    const note = failed ? `${failed} docker run failed` : `${TASKS} x docker run -d --network`;
    return { seconds, note };
  } finally {
    await run('docker', ['network', 'rm', net]);
  }
}

async function swarmPhase(file: string, name: string): Promise<Outcome> {
  const swarm = await setUpSwarm({ reuse: true });
  if (!swarm.ok) return { seconds: null, note: swarm.why };
  const label = `${STACK_LABEL}=${name}`;
  const cleanUp = async () => {
    await run('docker', ['stack', 'rm', name], 60_000);
    await poll(async () => (await containersWithLabel(label)).length === 0, 250, 60_000);
    await removeContainersWithLabel(label);
    if (swarm.created) await leaveSwarm(30_000);
  };
  const forget = onInterrupt(cleanUp);
  try {
    const t0 = performance.now();
    const r = await run('docker', [
      'stack',
      'deploy',
      '--resolve-image',
      'never',
      '-c',
      file,
      name,
    ]);
    if (r.code !== 0) return { seconds: null, note: `stack deploy failed: ${r.stderr.trim()}` };
    const done = await poll(
      async () => (await containersWithLabel(label, { running: true })).length >= TASKS,
      POLL_MS,
      PHASE_TIMEOUT_MS,
    );
    return { seconds: done ? secs(t0) : null, note: done ? 'docker stack deploy' : 'timed out' };
  } finally {
    await cleanUp();
    forget();
  }
}

async function fleetPhase(file: string, name: string): Promise<Outcome> {
  const m = await startBenchManager();
  const agent = startBenchAgent(m, {
    name: 'bench-stack',
    address: '127.0.0.2',
    runtime: 'docker',
  });
  const client = await adminClient(m);
  const label = `${STACK_LABEL}=${name}`;
  const forget = onInterrupt(async () => {
    await Promise.all([stopProc(agent.proc), stopProc(m.proc)]);
    await removeContainersWithLabel(label);
  });
  try {
    const ready = await poll(
      async () =>
        (await client.call('node.ls', {})).find((n) => !n.manager && n.status === 'ready'),
      POLL_MS,
      30_000,
    );
    if (!ready) return { seconds: null, note: `agent never became ready (log: ${agent.log})` };
    const t0 = performance.now();
    const r = await fleetCli(m, ['stack', 'deploy', '--detach', '-c', file, name]);
    if (r.code !== 0) return { seconds: null, note: `stack deploy failed: ${r.stderr.trim()}` };
    const done = await poll(
      async () => (await containersWithLabel(label, { running: true })).length >= TASKS,
      POLL_MS,
      PHASE_TIMEOUT_MS,
    );
    return {
      seconds: done ? secs(t0) : null,
      note: done ? 'fleet stack deploy, manager + 1 docker agent' : `timed out (${agent.log})`,
    };
  } finally {
    await fleetCli(m, ['stack', 'rm', name], 120_000).catch(() => undefined);
    await client.close().catch(() => undefined);
    await stopProc(agent.proc);
    await stopProc(m.proc);
    await removeContainersWithLabel(label);
    await removeStackBridges(name);
    forget();
  }
}

const fmt = (s: number | null): string => (s === null ? 'n/a' : s.toFixed(2));
const ratio = (a: number | null, b: number | null): string =>
  a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`;

async function main(): Promise<void> {
  console.log(`stack: ${SERVICES} services x ${REPLICAS} replicas of ${TEST_IMAGE} on one engine`);
  if (!(await dockerAnswers())) {
    console.log('Docker engine not reachable');
    goalLine(`fleet <= ${GOAL_RATIO}x raw docker run`, null);
    process.exitCode = 1;
    return;
  }
  await ensureTestImage();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-bench-stack-'));
  const file = path.join(dir, 'docker-compose.yml');
  await fs.writeFile(file, composeText());
  const raw = await rawPhase(`fleet.bench=stack-${process.pid}`);
  await sleep(2_000);
  const rawNet = await rawNetworkPhase(`fleet.bench=stack-net-${process.pid}`);
  await sleep(2_000);
  const fleet = await fleetPhase(file, `fb${process.pid}`);
  await sleep(2_000);
  const swarm = await swarmPhase(file, `sb${process.pid}`);
  printTable(
    [
      ['system', 'seconds', 'vs raw', 'how'],
      ['raw docker run', fmt(raw.seconds), '1.00x', raw.note],
      ['raw, on a network', fmt(rawNet.seconds), ratio(rawNet.seconds, raw.seconds), rawNet.note],
      ['fleet', fmt(fleet.seconds), ratio(fleet.seconds, raw.seconds), fleet.note],
      ['docker swarm', fmt(swarm.seconds), ratio(swarm.seconds, raw.seconds), swarm.note],
    ],
    'lrrl',
  );
  console.log(
    `ratios: fleet/raw on a network ${ratio(fleet.seconds, rawNet.seconds)}, swarm/raw on a network ${ratio(swarm.seconds, rawNet.seconds)}`,
  );
  console.log(
    `ratios: fleet/raw ${ratio(fleet.seconds, raw.seconds)}, swarm/raw ${ratio(swarm.seconds, raw.seconds)}, fleet/swarm ${ratio(fleet.seconds, swarm.seconds)}`,
  );
  goalLine(
    `fleet <= ${GOAL_RATIO}x raw docker run`,
    fleet.seconds !== null && raw.seconds !== null
      ? fleet.seconds <= GOAL_RATIO * raw.seconds
      : false,
  );
  goalLine(
    'fleet below swarm in the same run',
    fleet.seconds !== null && swarm.seconds !== null ? fleet.seconds < swarm.seconds : null,
  );
  await nameLatency();
  await fs.rm(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(`stack: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
