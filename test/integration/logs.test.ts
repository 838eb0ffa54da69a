// Service and node logs end to end: a manager and three process-runtime agents, lines followed from every task,
// --tail, --since, a task id, a node going down, Ctrl-C and a killed CLI stopping the agents, and no log bytes when idle.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import {
  cli,
  cliOk,
  freePort,
  runningTasks,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
} from '../helpers/cluster.js';
import { killTasksOf } from '../helpers/processes.js';
import { sample } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';
import { followLogs as follow, type Follower } from '../helpers/log-follower.js';

const HOST = '127.0.21.1';
const AGENTS = ['127.0.21.2', '127.0.21.3', '127.0.21.4'];
/** Each task prints its slot's tick with the time it was written (ms), five times a second. */
const TICKER = 'while :; do echo "tick $(date +%s%3N)"; sleep 0.2; done';

async function logBytes(metrics: string): Promise<number> {
  const text = await (await fetch(`http://${metrics}/metrics`)).text();
  const v = sample(text, 'fleet_logs_received_bytes_total');
  assert.notEqual(v, null, 'the manager exports fleet_logs_received_bytes_total');
  return v ?? 0;
}

/** Log bytes agents sent over a window in which nobody asks for any. */
async function bytesOver(metrics: string, ms: number): Promise<number> {
  const before = await logBytes(metrics);
  await new Promise((r) => setTimeout(r, ms));
  return (await logBytes(metrics)) - before;
}

const tickOf = (text: string): number | null => {
  const m = /\| (?:\S+ )?tick (\d{13})$/.exec(text);
  return m ? Number(m[1]) : null;
};
const prefixOf = (text: string): string => text.slice(0, text.indexOf(' |')).trim();

test('service logs follows three tasks on three agents, with tail, since, a task id, a node down and Ctrl-C', async (t) => {
  const metrics = `${HOST}:${await freePort()}`;
  const m = await startManager({
    host: HOST,
    heartbeat: '250ms',
    extraArgs: ['--metrics-addr', metrics],
  });
  const agents: AgentProc[] = AGENTS.map((address, i) =>
    startAgent({
      manager: m.address,
      token: m.workerToken,
      name: `logs-${i + 1}`,
      address,
      runtime: 'process',
      extraArgs: ['--remove-tasks-on-stop'],
    }),
  );
  const followers: Follower[] = [];
  t.after(async () => {
    for (const f of followers) f.proc.kill('SIGKILL');
    await cli(m, ['service', 'rm', 'talker']).catch(() => undefined);
    for (const a of agents) await stopProc(a.proc);
    for (const address of AGENTS) await killTasksOf(address);
    await stopProc(m.proc);
    for (const d of [m.dataDir, ...agents.map((a) => a.dataDir)])
      await fs.rm(d, { recursive: true, force: true });
  });
  await waitForNodes(m, 3);
  await cliOk(m, [
    'service',
    'create',
    '--detach',
    '--name',
    'talker',
    '--replicas',
    '3',
    '--max-replicas-per-node',
    '1',
    'busybox',
    '--',
    'sh',
    '-c',
    TICKER,
  ]);
  const tasks = await waitFor(
    async () => {
      const r = await runningTasks(m, 'talker');
      return r.length === 3 ? r : null;
    },
    { what: 'three talker tasks running', timeoutMs: 30_000 },
  );

  // Idle: the tasks write, nobody follows, and no agent sends a byte of log.
  const idle = await bytesOver(metrics, 3_000);
  t.diagnostic(`log bytes received in 3 s with nobody following: ${idle}`);
  assert.equal(idle, 0, 'an agent publishes no log bytes while nobody follows');

  // -f: lines from all three tasks, each within 1 s of its being written.
  const f = follow(m, ['service', 'logs', '-f', '--tail', '0', '--no-task-ids', 'talker']);
  followers.push(f);
  const fresh = await waitFor(
    () => {
      const by = new Map<string, number[]>();
      for (const l of f.lines) {
        const tick = tickOf(l.text);
        if (tick === null) continue;
        by.set(prefixOf(l.text), [...(by.get(prefixOf(l.text)) ?? []), l.at - tick]);
      }
      return by.size === 3 && [...by.values()].every((d) => d.length >= 5) ? by : null;
    },
    { what: 'five followed lines from each of three tasks', timeoutMs: 20_000 },
  );
  for (const [prefix, delays] of fresh) {
    assert.match(prefix, /^talker\.[123]@logs-[123]$/);
    const worst = Math.max(...delays);
    t.diagnostic(`${prefix}: ${delays.length} lines, worst delay ${worst} ms`);
    assert.ok(worst < 1_000, `${prefix}: a line came ${worst} ms after it was written`);
  }
  assert.ok((await logBytes(metrics)) > 0, 'following costs log bytes');

  // Ctrl-C: the CLI ends and the agents stop publishing.
  f.proc.kill('SIGINT');
  assert.equal(await f.exited, 0);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await bytesOver(metrics, 2_000), 0, 'no log bytes after Ctrl-C');

  // --tail 2 without -f: two lines of each task, then the command ends by itself.
  const tail = await cli(m, ['service', 'logs', '--tail', '2', '--timestamps', 'talker'], 20_000);
  assert.equal(tail.code, 0, tail.stderr);
  const tailLines = tail.stdout.trim().split('\n');
  assert.equal(tailLines.length, 6, tail.stdout);
  const byPrefix = new Set(tailLines.map(prefixOf));
  assert.equal(byPrefix.size, 3, 'every task has its own prefix (with its task id)');
  for (const p of byPrefix) assert.match(p, /^talker\.[123]\.[a-z0-9]+@logs-[123]$/);
  // Merged by the time each line was stamped (to the second for the process runtime).
  const stamps = tailLines.map((l) => / \| (\S+) tick /.exec(l)?.[1] ?? '');
  assert.deepEqual(stamps, [...stamps].sort(), 'lines of all tasks merged by time');

  // --since: only lines written about then or later (process logs are stamped once a second).
  const since = Date.now() - 2_000;
  const all = await cliOk(m, ['service', 'logs', '--timestamps', 'talker']);
  const recent = await cliOk(m, [
    'service',
    'logs',
    '--since',
    new Date(since).toISOString(),
    'talker',
  ]);
  const recentTicks = recent
    .trim()
    .split('\n')
    .map((l) => tickOf(l) ?? 0);
  assert.ok(recentTicks.length >= 6, `lines since then: ${recent}`);
  assert.ok(recentTicks.length < all.trim().split('\n').length, 'since leaves earlier lines out');
  assert.ok(Math.min(...recentTicks) >= since - 1_500, 'no line from well before --since');
  assert.match(all, /\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z tick \d{13}\n/);

  // A task id: that task's lines only.
  const one = tasks[0];
  assert.ok(one);
  const own = await cliOk(m, ['service', 'logs', '--tail', '3', one.id]);
  const ownPrefixes = new Set(own.trim().split('\n').map(prefixOf));
  assert.equal(ownPrefixes.size, 1, own);
  assert.match([...ownPrefixes][0] ?? '', new RegExp(`^${one.name}\\.${one.id}@logs-[123]$`));

  // A node that goes down ends its part with a line saying so; the others go on.
  const g = follow(m, ['service', 'logs', '-f', '--tail', '0', '--no-task-ids', 'talker']);
  followers.push(g);
  await waitFor(() => new Set(g.lines.map((l) => prefixOf(l.text))).size === 3, {
    what: 'lines from all three tasks',
    timeoutMs: 20_000,
  });
  const victim = agents[2];
  assert.ok(victim);
  const gone = new Promise((r) => victim.proc.once('exit', r));
  victim.proc.kill('SIGKILL');
  await gone;
  const downLine = await waitFor(
    () => g.lines.find((l) => /-- node logs-3 went down; its logs end here --/.test(l.text)),
    { what: 'the node-down line', timeoutMs: 20_000 },
  );
  assert.match(downLine.text, /^talker\.\d@logs-3 +\| -- node logs-3 went down/);
  const after = g.lines.length;
  await waitFor(() => g.lines.length > after + 4, { what: 'more lines from the others' });
  assert.equal(g.proc.exitCode, null, 'following goes on for the other nodes');

  // A killed CLI renews nothing more: its agents stop on their own once the lease lapses.
  g.proc.kill('SIGKILL');
  await g.exited;
  await waitFor(async () => (await bytesOver(metrics, 1_000)) === 0, {
    what: 'no more log bytes after the follower was killed',
    timeoutMs: 15_000,
    intervalMs: 0,
  });

  // Without -f, a down node's part says so at once and the command still ends.
  const withDown = await cli(m, ['service', 'logs', '--tail', '1', 'talker'], 20_000);
  assert.equal(withDown.code, 0, withDown.stderr);
  assert.match(withDown.stdout, /-- node logs-3 is down; its logs cannot be read now --/);

  // Bad input: one clear line and an exit code, never a wait.
  const missing = await cli(m, ['service', 'logs', 'nosuch'], 20_000);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /service or task nosuch not found/);
  const badTail = await cli(m, ['service', 'logs', '--tail', 'many', 'talker'], 20_000);
  assert.notEqual(badTail.code, 0);
  assert.match(badTail.stderr, /--tail/);

  // The agent's own log.
  const nodeLog = await cliOk(m, ['node', 'logs', '--tail', '50', 'logs-1']);
  assert.match(nodeLog, /connected to manager/);
});
