// Benchmark: resident memory of an agent running 10 tasks (dev CLI and bundled), next to a bare Node.js process.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { REPO } from '../helpers/cluster.js';
import { ensureTestImage, TEST_IMAGE } from '../helpers/docker.js';
import {
  adminClient,
  dockerAnswers,
  fleetCli,
  goalLine,
  mb,
  onInterrupt,
  percentile,
  poll,
  printTable,
  removeContainersWithLabel,
  anonBytes,
  rssBytes,
  run,
  sleep,
  startBenchAgent,
  startBenchManager,
  stopProc,
} from './lib.js';

const REPLICAS = 10;
const SETTLE_MS = 5_000;
const READS = 5;
const GOAL_RATIO = 1.6;

interface AgentFigure {
  label: string;
  rss: number | null;
  anon: number;
  baseline: number;
  baselineAnon: number;
  note: string;
}

/** Extra node flags for the agent, for experiments (e.g. BENCH_AGENT_NODE_ARGS=--max-semi-space-size=1). */
const AGENT_NODE_ARGS = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);

/** A bare Node.js process that only keeps its event loop alive, started beside the agent. */
function startBaseline(): ReturnType<typeof spawn> {
  return spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
}

async function measureAgent(
  label: string,
  bundle: boolean,
  address: string,
  runtime: 'docker' | 'process',
): Promise<AgentFigure> {
  const m = await startBenchManager();
  const name = `rss-${bundle ? 'bundle' : 'dev'}`;
  const agent = startBenchAgent(m, { name, address, runtime, bundle, nodeArgs: AGENT_NODE_ARGS });
  const client = await adminClient(m);
  let nodeId = '';
  const baseline = startBaseline();
  const teardown = async (): Promise<void> => {
    await client.call('service.rm', { service: 'rss' }).catch(() => undefined);
    if (nodeId && runtime === 'docker') {
      await poll(
        async () =>
          (
            await run('docker', ['ps', '-aq', '--filter', `label=fleet.node.id=${nodeId}`])
          ).stdout.trim() === '',
        250,
        30_000,
      );
    }
    await client.close().catch(() => undefined);
    await stopProc(baseline);
    await stopProc(agent.proc);
    await stopProc(m.proc);
    if (nodeId && runtime === 'docker') await removeContainersWithLabel(`fleet.node.id=${nodeId}`);
    await fs.rm(agent.dataDir, { recursive: true, force: true });
    await fs.rm(m.dataDir, { recursive: true, force: true });
  };
  const forget = onInterrupt(teardown);
  try {
    const node = await poll(
      async () =>
        (await client.call('node.ls', {})).find((n) => n.name === name && n.status === 'ready'),
      100,
      30_000,
    );
    if (!node)
      return {
        label,
        rss: null,
        anon: 0,
        baseline: 0,
        baselineAnon: 0,
        note: `agent never became ready (log: ${agent.log})`,
      };
    nodeId = node.id;
    const args = [
      'service',
      'create',
      '--detach',
      '--name',
      'rss',
      '--replicas',
      String(REPLICAS),
      '--constraint',
      `node.id==${nodeId}`,
    ];
    args.push(...(runtime === 'docker' ? [TEST_IMAGE] : ['none', 'sleep', '3600']));
    const created = await fleetCli(m, args);
    if (created.code !== 0)
      return {
        label,
        rss: null,
        anon: 0,
        baseline: 0,
        baselineAnon: 0,
        note: `service create failed: ${created.stderr.trim()}`,
      };
    const running = await poll(
      async () =>
        ((await client.call('service.ls', {})).find((s) => s.name === 'rss')?.replicas.running ??
          0) >= REPLICAS,
      100,
      120_000,
    );
    if (!running)
      return {
        label,
        rss: null,
        anon: 0,
        baseline: 0,
        baselineAnon: 0,
        note: `${REPLICAS} tasks never ran (log: ${agent.log})`,
      };
    await sleep(SETTLE_MS);
    const pid = agent.proc.pid ?? 0;
    const basePid = baseline.pid ?? 0;
    // RSS moves by a few MB with garbage collection: take the median of a few reads.
    const reads: number[][] = [];
    for (let i = 0; i < READS; i++) {
      reads.push([rssBytes(pid), anonBytes(pid), rssBytes(basePid), anonBytes(basePid)]);
      await sleep(200);
    }
    const med = (k: number): number =>
      percentile(
        reads.map((r) => r[k] ?? 0),
        50,
      );
    return {
      label,
      rss: med(0),
      anon: med(1),
      baseline: med(2),
      baselineAnon: med(3),
      note: `${REPLICAS} ${runtime} tasks, ${SETTLE_MS / 1000} s settled, median of ${READS} reads`,
    };
  } finally {
    await teardown();
    forget();
  }
}

async function main(): Promise<void> {
  const docker = await dockerAnswers();
  const runtime = docker ? 'docker' : 'process';
  console.log(
    `agent-rss: agent RSS with ${REPLICAS} ${runtime} tasks vs a bare node process (${process.version})`,
  );
  if (docker) await ensureTestImage();
  const bundled = await run(process.execPath, [`${REPO}/bin/bundle-agent.js`], 120_000);
  if (bundled.code !== 0) console.log(`bundle-agent failed: ${bundled.stderr.trim()}`);
  const results: AgentFigure[] = [];
  results.push(await measureAgent('fleet agent start (dist/)', false, '127.0.0.2', runtime));
  if (bundled.code === 0)
    results.push(await measureAgent('fleet-agent.mjs (bundle)', true, '127.0.0.3', runtime));
  console.log('');
  const ratio = (f: AgentFigure): number | null =>
    f.rss && f.baseline ? f.rss / f.baseline : null;
  printTable(
    [
      ['agent', 'agent RSS MB', 'bare node RSS MB', 'ratio', 'anon MB agent / bare', 'note'],
      ...results.map((f) => [
        f.label,
        f.rss === null ? 'n/a' : mb(f.rss),
        f.baseline ? mb(f.baseline) : 'n/a',
        ratio(f)?.toFixed(2) ?? 'n/a',
        `${mb(f.anon)} / ${mb(f.baselineAnon)}`,
        f.note,
      ]),
    ],
    'lrrrrl',
  );
  for (const f of results) {
    const r = ratio(f);
    goalLine(`${f.label} RSS <= ${GOAL_RATIO}x bare node`, r === null ? false : r <= GOAL_RATIO);
  }
  if (bundled.code !== 0)
    goalLine(`fleet-agent.mjs (bundle) RSS <= ${GOAL_RATIO}x bare node`, false);
}

main().catch((e: unknown) => {
  console.error(`agent-rss: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
