// Benchmark: bytes an idle agent with 5 tasks costs per day (default and metered profiles), TLS and TCP/IP headers included.
import { promises as fs } from 'node:fs';
import { startCountingLink, type CountingLink, type LinkCounts } from '../helpers/counting-link.js';
import type { BenchAgent } from './lib.js';
import {
  adminClient,
  fleetCli,
  goalLine,
  onInterrupt,
  poll,
  printTable,
  sleep,
  startBenchAgent,
  startBenchManager,
  stopProc,
} from './lib.js';

const TASKS = 5;
const DAY_S = 86_400;
const MONTH_DAYS = 30;
/** IPv4 (20) + TCP (20) + the timestamp option Linux puts on every segment (12). */
const HEADER_BYTES = 52;
const GOAL_DEFAULT_PER_DAY = 2 * 1024 * 1024;
const GOAL_METERED_PER_MONTH = 1024 * 1024;
/** Statuses of the tasks starting settle before the window opens. */
const SETTLE_MS = 20_000;

const argMinutes = /^--minutes=(.+)$/.exec(
  process.argv.find((a) => a.startsWith('--minutes=')) ?? '',
);
const MINUTES = Number(argMinutes?.[1] ?? process.env.FLEET_BENCH_IDLE_MINUTES ?? 10);
/** FLEET_BENCH_IDLE_PLAIN=1: plain MQTT (no TLS), to decode where the bytes go. */
const PLAIN = process.env.FLEET_BENCH_IDLE_PLAIN === '1';
const PROFILES = (process.env.FLEET_BENCH_IDLE_PROFILES ?? 'default,metered').split(',');

interface Subject {
  profile: string;
  link: CountingLink;
  agent: BenchAgent;
  nodeId: string;
  start?: LinkCounts;
  end?: LinkCounts;
}

async function main(): Promise<void> {
  if (!(MINUTES > 0)) throw new Error('--minutes must be a positive number');
  console.log(
    `idle-traffic: one idle agent with ${TASKS} process tasks per profile (${PROFILES.join(', ')}), ` +
      `${MINUTES} min window, ${PLAIN ? 'plain MQTT (decoded)' : 'TLS'}, counted by a relay`,
  );
  const extra = PLAIN ? ['--insecure'] : [];
  // The admin client and the CLI follow the manager into plain TCP.
  if (PLAIN) process.env.FLEET_INSECURE = '1';
  const m = await startBenchManager({ host: '127.0.27.1', extraArgs: extra });
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
    for (const [i, profile] of PROFILES.entries()) {
      const link = await startCountingLink(`127.0.27.${11 + i}`, m.address, { parseMqtt: PLAIN });
      const agent = startBenchAgent(
        { ...m, address: link.address },
        {
          name: `idle-${profile}`,
          address: `127.0.27.${21 + i}`,
          runtime: 'process',
          extraArgs: [
            '--remove-tasks-on-stop',
            ...(profile === 'default' ? [] : ['--profile', profile]),
            ...extra,
          ],
        },
      );
      subjects.push({ profile, link, agent, nodeId: '' });
    }
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
      const args = ['service', 'create', '--detach', '--name', `idle-${s.profile}`];
      args.push('--replicas', String(TASKS), '--constraint', `node.id==${node.id}`);
      const made = await fleetCli(m, [...args, 'none', 'sleep', '86400']);
      if (made.code !== 0) throw new Error(`service create failed: ${made.stderr.trim()}`);
    }
    const running = await poll(
      async () => {
        const ls = await client.call('service.ls', {});
        return subjects.every(
          (s) => (ls.find((x) => x.name === `idle-${s.profile}`)?.replicas.running ?? 0) >= TASKS,
        );
      },
      200,
      60_000,
    );
    if (!running) throw new Error('the tasks never all ran');
    await sleep(SETTLE_MS);
    for (const s of subjects) s.start = s.link.counts();
    const t0 = performance.now();
    const windowMs = MINUTES * 60_000;
    // The relay reads segment counts from ss: refresh them now and then, in case of a reconnect.
    while (performance.now() - t0 < windowMs) {
      await sleep(Math.min(10_000, windowMs - (performance.now() - t0)));
      for (const s of subjects) s.link.counts();
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const s of subjects) s.end = s.link.counts();
    const nodes = await client.call('node.ls', {});
    report(subjects, seconds, (id) => nodes.find((n) => n.id === id));
  } finally {
    await teardown();
    forget();
  }
}

function report(
  subjects: Subject[],
  seconds: number,
  node: (id: string) => { status: string; detection?: string } | undefined,
): void {
  const rows: string[][] = [
    [
      'profile',
      'up B',
      'down B',
      'segments',
      'wire B',
      'per day',
      'per month',
      'detection',
      'reconnects',
    ],
  ];
  const perDay = new Map<string, number>();
  for (const s of subjects) {
    if (!s.start || !s.end) continue;
    const up = s.end.up.bytes - s.start.up.bytes;
    const down = s.end.down.bytes - s.start.down.bytes;
    const reads = s.end.up.reads + s.end.down.reads - s.start.up.reads - s.start.down.reads;
    // Without ss: each read taken as one segment answered by one pure ACK.
    const segs =
      s.end.segments !== null && s.start.segments !== null
        ? s.end.segments - s.start.segments
        : reads * 2;
    const wire = up + down + segs * HEADER_BYTES;
    const day = (wire / seconds) * DAY_S;
    perDay.set(s.profile, day);
    const n = node(s.nodeId);
    rows.push([
      s.profile,
      String(up),
      String(down),
      String(segs),
      String(wire),
      kib(day),
      kib(day * MONTH_DAYS),
      n?.detection ?? 'n/a',
      String(s.end.accepted - 1),
    ]);
  }
  console.log('');
  printTable(rows, 'lrrrrrrll');
  console.log(
    `\nwire B = TLS bytes both ways + ${HEADER_BYTES} B of IPv4+TCP headers per segment (segments as ` +
      `the kernel counted them on the relay's socket, pure ACKs included); scaled from ${seconds.toFixed(0)} s ` +
      `to a day (${MONTH_DAYS}-day month).`,
  );
  if (PLAIN) printKinds(subjects);
  const d = perDay.get('default');
  if (d !== undefined) {
    goalLine(`default profile <= 2 MB per day (measured ${kib(d)})`, d <= GOAL_DEFAULT_PER_DAY);
  }
  const me = perDay.get('metered');
  if (me !== undefined) {
    goalLine(
      `metered profile <= 1 MB per month (measured ${kib(me * MONTH_DAYS)})`,
      me * MONTH_DAYS <= GOAL_METERED_PER_MONTH,
    );
  }
}

/** Where the bytes went, by MQTT packet kind and topic (plain runs only). */
function printKinds(subjects: Subject[]): void {
  for (const s of subjects) {
    if (!s.start || !s.end) continue;
    const rows: string[][] = [['packet', 'count', 'MQTT bytes']];
    for (const [k, v] of s.end.kinds) {
      const before = s.start.kinds.get(k) ?? { packets: 0, bytes: 0 };
      if (v.packets > before.packets)
        rows.push([k, String(v.packets - before.packets), String(v.bytes - before.bytes)]);
    }
    console.log(`\n${s.profile}: MQTT packets in the window`);
    printTable(rows, 'lrr');
  }
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(2)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}

main().catch((e: unknown) => {
  console.error(`idle-traffic: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
