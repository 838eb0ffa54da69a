// Benchmark: bytes an idle agent with 5 tasks costs per day (default and metered profiles), TLS and TCP/IP headers included.
import { promises as fs } from 'node:fs';
import { startCountingLink, type CountingLink } from '../helpers/counting-link.js';
import type { ManagerProc } from '../helpers/cluster.js';
import type { RpcClient } from '../../manager/cli/rpc-client.js';
import type { BenchAgent } from './lib.js';
import {
  adminClient,
  fleetCli,
  onInterrupt,
  poll,
  sleep,
  startBenchAgent,
  startBenchManager,
  stopProc,
} from './lib.js';
import { printKinds, report, type Measured } from './idle-traffic-report.js';

const TASKS = 5;
/** Statuses of the tasks starting settle before the window opens. */
const SETTLE_MS = 20_000;

const argOf = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
/** --minutes=N or FLEET_BENCH_IDLE_MINUTES: the window (10 by default). */
const MINUTES = Number(argOf('minutes') ?? process.env.FLEET_BENCH_IDLE_MINUTES ?? 10);
/** The metered agent's keepalive during the run, so the window holds many periods (scaled after). */
const RUN_KEEPALIVE_S = Number(process.env.FLEET_BENCH_IDLE_KEEPALIVE_S ?? 30);
/** FLEET_BENCH_IDLE_PLAIN=1: plain MQTT (no TLS), to decode where the bytes go. */
const PLAIN = process.env.FLEET_BENCH_IDLE_PLAIN === '1';
const PROFILES = (process.env.FLEET_BENCH_IDLE_PROFILES ?? 'default,metered')
  .split(',')
  .filter((p): p is 'default' | 'metered' => p === 'default' || p === 'metered');

interface Subject {
  profile: 'default' | 'metered';
  link: CountingLink;
  agent: BenchAgent;
  nodeId: string;
}

async function main(): Promise<void> {
  if (!(MINUTES > 0)) throw new Error('--minutes must be a positive number');
  if (!(RUN_KEEPALIVE_S >= 1)) throw new Error('FLEET_BENCH_IDLE_KEEPALIVE_S must be >= 1');
  console.log(
    `idle-traffic: one idle agent with ${TASKS} process tasks per profile (${PROFILES.join(', ')}), ` +
      `${MINUTES} min window, ${PLAIN ? 'plain MQTT (decoded)' : 'TLS'}, counted by a relay; ` +
      `metered runs with a ${RUN_KEEPALIVE_S} s keepalive`,
  );
  // The admin client and the CLI follow the manager into plain TCP.
  if (PLAIN) process.env.FLEET_INSECURE = '1';
  const m = await startBenchManager({
    host: '127.0.27.1',
    extraArgs: PLAIN ? ['--insecure'] : [],
  });
  const client = await adminClient(m).catch(async (e: unknown) => {
    await stopProc(m.proc);
    throw e;
  });
  const subjects: Subject[] = [];
  const teardown = async (): Promise<void> => {
    for (const s of subjects) await fleetCli(m, ['service', 'rm', `idle-${s.profile}`]);
    await sleep(2_000);
    for (const s of subjects) await stopProc(s.agent.proc);
    for (const s of subjects) await s.link.close();
    await client.close().catch(() => undefined);
    await stopProc(m.proc);
    for (const s of subjects) await fs.rm(s.agent.dataDir, { recursive: true, force: true });
    await fs.rm(m.dataDir, { recursive: true, force: true });
  };
  const forget = onInterrupt(teardown);
  try {
    for (const [i, profile] of PROFILES.entries()) subjects.push(await startSubject(m, profile, i));
    await startTasks(m, client, subjects);
    await sleep(SETTLE_MS);
    const measured = await measure(subjects);
    const downs = await measureDetection(client, subjects);
    report(measured.map((x, i) => ({ ...x, downAfterS: downs[i] ?? null })));
  } finally {
    await teardown();
    forget();
  }
}

async function startSubject(
  m: ManagerProc,
  profile: 'default' | 'metered',
  i: number,
): Promise<Subject> {
  const link = await startCountingLink(`127.0.27.${11 + i}`, m.address, { parseMqtt: PLAIN });
  const agent = startBenchAgent(
    { ...m, address: link.address },
    {
      name: `idle-${profile}`,
      address: `127.0.27.${21 + i}`,
      runtime: 'process',
      extraArgs: ['--remove-tasks-on-stop', '--profile', profile, ...(PLAIN ? ['--insecure'] : [])],
    },
  );
  return { profile, link, agent, nodeId: '' };
}

/** Waits for each agent, gives the metered one the run's keepalive, and starts 5 tasks on each. */
async function startTasks(m: ManagerProc, client: RpcClient, subjects: Subject[]): Promise<void> {
  for (const s of subjects) {
    const node = await poll(
      async () =>
        (await client.call('node.ls', {})).find(
          (n) => n.name === `idle-${s.profile}` && n.status === 'ready',
        ),
      200,
      30_000,
    );
    if (!node) throw new Error(`agent ${s.profile} never became ready (log: ${s.agent.log})`);
    s.nodeId = node.id;
    if (s.profile === 'metered') {
      const k = await fleetCli(m, [
        'node',
        'update',
        '--keepalive',
        `${RUN_KEEPALIVE_S}s`,
        node.id,
      ]);
      if (k.code !== 0) throw new Error(`node update --keepalive failed: ${k.stderr.trim()}`);
    }
    const args = ['service', 'create', '--detach', '--name', `idle-${s.profile}`];
    args.push('--replicas', String(TASKS), '--constraint', `node.id==${node.id}`);
    const made = await fleetCli(m, [...args, 'none', 'sleep', '86400']);
    if (made.code !== 0) throw new Error(`service create failed: ${made.stderr.trim()}`);
  }
  const running = await poll(
    async () => {
      const ls = await client.call('service.ls', {});
      const up = (s: Subject) => ls.find((x) => x.name === `idle-${s.profile}`)?.replicas.running;
      const nodes = await client.call('node.ls', {});
      const ready = (s: Subject) => nodes.find((n) => n.id === s.nodeId)?.status === 'ready';
      return subjects.every((s) => (up(s) ?? 0) >= TASKS && ready(s));
    },
    200,
    60_000,
  );
  if (!running) throw new Error('the tasks never all ran');
}

/** Counts through the window; the relay's segment figures are refreshed now and then. */
async function measure(subjects: Subject[]): Promise<Measured[]> {
  const starts = subjects.map((s) => s.link.counts());
  const t0 = performance.now();
  const windowMs = MINUTES * 60_000;
  while (performance.now() - t0 < windowMs) {
    await sleep(Math.min(10_000, windowMs - (performance.now() - t0)));
    for (const s of subjects) s.link.counts();
  }
  const seconds = (performance.now() - t0) / 1000;
  return subjects.map((s, i) => {
    const start = starts[i] ?? s.link.counts();
    const end = s.link.counts();
    if (PLAIN) printKinds(s.profile, start, end);
    return {
      profile: s.profile,
      start,
      end,
      seconds,
      runKeepaliveS: RUN_KEEPALIVE_S,
      downAfterS: null,
    };
  });
}

/**
 * Freezes every agent (SIGSTOP: its connection stays open, it says nothing) and times until
 * the manager marks its node down; then lets them go on. Null: not down within 3 minutes.
 */
async function measureDetection(
  client: RpcClient,
  subjects: Subject[],
): Promise<(number | null)[]> {
  const t0 = performance.now();
  for (const s of subjects) s.agent.proc.kill('SIGSTOP');
  const downs: (number | null)[] = subjects.map(() => null);
  try {
    await poll(
      async () => {
        const nodes = await client.call('node.ls', {});
        subjects.forEach((s, i) => {
          const down = nodes.find((n) => n.id === s.nodeId)?.status === 'down';
          if (down && downs[i] === null) downs[i] = (performance.now() - t0) / 1000;
        });
        return downs.every((d) => d !== null);
      },
      250,
      180_000,
    );
  } finally {
    for (const s of subjects) s.agent.proc.kill('SIGCONT');
  }
  return downs;
}

main().catch((e: unknown) => {
  console.error(`idle-traffic: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
