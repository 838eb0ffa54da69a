// A manager's /metrics: accepted by promtool, and the values follow the cluster (tasks, a node killed, Raft writes).
// test-lane: own-addresses
import { killTasksOf } from '../helpers/processes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import {
  cliOk,
  freePort,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { promtoolCheck, requirePromtool, sample } from '../helpers/prometheus.js';

const MANAGER_HOST = '127.0.17.1';
const AGENTS = ['127.0.17.2', '127.0.17.3'];

test('/metrics passes promtool and follows tasks, Raft writes and a node going down', async (t) => {
  if (!(await requirePromtool(t))) return;
  const port = await freePort();
  const addr = `${MANAGER_HOST}:${port}`;
  const m = await startManager({
    host: MANAGER_HOST,
    heartbeat: '500ms',
    extraArgs: ['--metrics-addr', addr],
  });
  const agents: AgentProc[] = AGENTS.map((address, i) =>
    startAgent({
      manager: m.address,
      token: m.workerToken,
      name: `metrics-${i + 1}`,
      address,
      runtime: 'process',
      // Process tasks survive an agent's stop unless asked: none may outlive the test.
      extraArgs: ['--remove-tasks-on-stop'],
    }),
  );
  t.after(async () => {
    await cliOk(m, ['service', 'rm', 'sleepers']).catch(() => undefined);
    for (const a of agents) await stopProc(a.proc);
    for (const address of AGENTS) await killTasksOf(address);
    await stopProc(m.proc);
    for (const d of [m.dataDir, ...agents.map((a) => a.dataDir)])
      await fs.rm(d, { recursive: true, force: true });
  });
  const scrape = async (): Promise<string> => {
    const res = await fetch(`http://${addr}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  await waitForNodes(m, 2);

  const first = await scrape();
  const check = await promtoolCheck(first);
  assert.equal(check.code, 0, `promtool check metrics: ${check.output}`);
  assert.equal(sample(first, 'fleet_raft_is_leader'), 1);
  assert.ok((sample(first, 'fleet_raft_term') ?? 0) >= 1);
  assert.ok((sample(first, 'fleet_broker_clients') ?? 0) >= 2, 'two agents connected');
  for (const i of [1, 2]) {
    assert.equal(sample(first, 'fleet_node_ready', { node: `metrics-${i}` }), 1);
    const age = sample(first, 'fleet_node_heartbeat_age_seconds', { node: `metrics-${i}` });
    assert.ok(age !== null && age < 5, `metrics-${i} heard recently (${age} s)`);
  }
  const applied = sample(first, 'fleet_raft_apply_index') ?? 0;
  const received = sample(first, 'fleet_broker_messages_received_total') ?? 0;

  const cmd = ['--detach', '--replicas', '2', 'busybox', '--', 'sleep', '600'];
  await cliOk(m, ['service', 'create', '--name', 'sleepers', ...cmd]);
  const running = await waitFor(
    async () => {
      const text = await scrape();
      return sample(text, 'fleet_tasks', { state: 'running' }) === 2 ? text : null;
    },
    { what: 'fleet_tasks{state="running"} 2', timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.equal(sample(running, 'fleet_services'), 1);
  assert.ok((sample(running, 'fleet_raft_apply_index') ?? 0) > applied, 'writes were applied');
  assert.ok((sample(running, 'fleet_raft_proposal_seconds_count') ?? 0) > 0, 'proposals timed');
  assert.ok((sample(running, 'fleet_broker_messages_received_total') ?? 0) > received);

  const [gone] = agents;
  assert.ok(gone);
  await stopProc(gone.proc, 'SIGKILL');
  const down = await waitFor(
    async () => {
      const text = await scrape();
      return sample(text, 'fleet_node_ready', { node: 'metrics-1' }) === 0 ? text : null;
    },
    { what: 'fleet_node_ready of the killed node to become 0', timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.equal(sample(down, 'fleet_node_ready', { node: 'metrics-2' }), 1);
  const later = await promtoolCheck(down);
  assert.equal(later.code, 0, `promtool check metrics: ${later.output}`);

  const other = await fetch(`http://${addr}/`);
  assert.equal(other.status, 404);
});
