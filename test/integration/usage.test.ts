// Usage summaries end to end: process agents report a busy task and their boards to the manager, which
// shows them in /metrics, `service ps --stats` and `node inspect`; with --stats-interval 0 nothing is sent.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import {
  cli,
  cliJson,
  cliOk,
  freePort,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { promtoolCheck, requirePromtool, sample } from '../helpers/prometheus.js';

/** Long enough to hold several summaries of each agent, short enough for the suite. */
const WINDOW_MS = 6_000;

interface Cluster {
  m: ManagerProc;
  metrics: string;
  agents: AgentProc[];
}

async function startCluster(
  host: string,
  statsInterval: string,
  agentHosts: string[],
): Promise<Cluster> {
  const metrics = `${host}:${await freePort()}`;
  const m = await startManager({
    host,
    heartbeat: '250ms',
    extraArgs: ['--metrics-addr', metrics, '--stats-interval', statsInterval],
  });
  const agents = agentHosts.map((address, i) =>
    startAgent({
      manager: m.address,
      token: m.workerToken,
      name: `usage-${host.split('.').at(-1) ?? ''}-${i + 1}`,
      address,
      runtime: 'process',
      // The busy task must not outlive the test (process tasks survive an agent's stop).
      extraArgs: ['--remove-tasks-on-stop'],
    }),
  );
  return { m, metrics, agents };
}

async function stopCluster(c: Cluster): Promise<void> {
  for (const a of c.agents) await stopProc(a.proc);
  await stopProc(c.m.proc);
  for (const d of [c.m.dataDir, ...c.agents.map((a) => a.dataDir)])
    await fs.rm(d, { recursive: true, force: true });
}

async function scrape(c: Cluster): Promise<string> {
  const res = await fetch(`http://${c.metrics}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** Payload bytes and messages the broker received in an idle window (no CLI calls meanwhile). */
async function idleTraffic(c: Cluster): Promise<{ bytes: number; messages: number }> {
  const before = await scrape(c);
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
  const after = await scrape(c);
  const delta = (name: string): number => (sample(after, name) ?? 0) - (sample(before, name) ?? 0);
  return {
    bytes: delta('fleet_broker_received_bytes_total'),
    messages: delta('fleet_broker_messages_received_total'),
  };
}

test('a busy task and both boards show in /metrics, service ps --stats and node inspect; 0 sends none', async (t) => {
  if (!(await requirePromtool(t))) return;
  const on = await startCluster('127.0.19.1', '1s', ['127.0.19.2', '127.0.19.3']);
  const off = await startCluster('127.0.19.11', '0', ['127.0.19.12', '127.0.19.13']);
  t.after(async () => {
    await cliOk(on.m, ['service', 'rm', 'burner']).catch(() => undefined);
    await stopCluster(on);
    await stopCluster(off);
  });
  await Promise.all([waitForNodes(on.m, 2), waitForNodes(off.m, 2)]);

  // Both clusters idle side by side: the same heartbeats and statuses, and summaries only in one.
  const [withStats, without] = await Promise.all([idleTraffic(on), idleTraffic(off)]);
  const plainMean = without.bytes / Math.max(1, without.messages);
  const summaries = (2 * WINDOW_MS) / 1_000;
  const perSummary = (withStats.bytes - withStats.messages * plainMean) / summaries;
  t.diagnostic(
    `idle ${WINDOW_MS} ms, 2 agents: stats 0 → ${without.bytes} B in ${without.messages} messages ` +
      `(${plainMean.toFixed(0)} B each); stats 1s → ${withStats.bytes} B in ${withStats.messages} ` +
      `messages; about ${perSummary.toFixed(0)} B per summary`,
  );
  assert.ok(withStats.bytes > without.bytes, 'summaries cost bytes only where asked for');

  const offText = await scrape(off);
  for (const name of ['fleet_node_cpu_ratio', 'fleet_node_memory_bytes', 'fleet_task_cpu_cores'])
    assert.equal(sample(offText, name), null, `no ${name} without summaries`);
  const offNode = await cliOk(off.m, ['node', 'inspect', '--pretty', 'usage-11-1']);
  assert.doesNotMatch(offNode, /Usage \(reported/);

  const idle = await scrape(on);
  for (const node of ['usage-1-1', 'usage-1-2']) {
    assert.ok((sample(idle, 'fleet_node_memory_bytes', { node }) ?? 0) > 0, `${node} memory`);
    assert.ok((sample(idle, 'fleet_node_disk_bytes', { node }) ?? 0) > 0, `${node} disk`);
    const cpu = sample(idle, 'fleet_node_cpu_ratio', { node });
    assert.ok(cpu !== null && cpu >= 0 && cpu <= 1, `${node} CPU ratio ${cpu}`);
  }

  // One core's worth of work, bounded: the test removes the service.
  const burn = ['--detach', '--replicas', '1', 'busybox', '--', 'sh', '-c', 'while :; do :; done'];
  await cliOk(on.m, ['service', 'create', '--name', 'burner', ...burn]);
  const busy = await waitFor(
    async () => {
      const text = await scrape(on);
      const cores = sample(text, 'fleet_task_cpu_cores', { service: 'burner', task: 'burner.1' });
      return cores !== null && cores > 0.3 ? text : null;
    },
    { what: 'fleet_task_cpu_cores of burner.1 above 0.3', timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.ok((sample(busy, 'fleet_task_memory_bytes', { service: 'burner' }) ?? 0) > 0);
  assert.notEqual(
    sample(busy, 'fleet_task_network_received_bytes_total', { service: 'burner' }),
    null,
  );
  const check = await promtoolCheck(busy);
  assert.equal(check.code, 0, `promtool check metrics: ${check.output}`);

  // Polled: the figure is a fresh sample each period, and other work on the machine moves it.
  const tasks = await waitFor(
    async () => {
      const list = await cliJson<
        { name: string; node: string; usage?: { cpu: number; mem: number } }[]
      >(on.m, ['service', 'ps', 'burner']);
      return (list[0]?.usage?.cpu ?? 0) > 0.3 ? list : null;
    },
    { what: 'service ps JSON with burner.1 above 0.3 cores', timeoutMs: 30_000, intervalMs: 500 },
  );
  const row = await waitFor(
    async () => {
      const table = await cli(on.m, ['service', 'ps', '--stats', 'burner']);
      assert.equal(table.code, 0, table.stderr);
      const [header, line] = table.stdout.trim().split('\n');
      assert.match(header ?? '', /CPU\s+MEM\s*$/);
      const cpuText = /(\d+\.\d)%\s+\S+\s*$/.exec(line ?? '')?.[1];
      return Number(cpuText) > 30 ? (line ?? '') : null;
    },
    { what: 'service ps --stats with a CPU column above 30%', timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.match(row, /burner\.1/);

  const node = tasks[0]?.node;
  assert.ok(node);
  const pretty = await cliOk(on.m, ['node', 'inspect', '--pretty', node]);
  assert.match(pretty, /Usage \(reported .* ago\):\n\s+CPU:\s+\d+\.\d%\n\s+Memory:\s+\S+ of \S+/);
});
