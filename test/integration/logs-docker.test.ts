// Service logs through the Docker runtime: the engine's log (stdout and stderr, its own times), --tail, --since,
// following new lines, and Ctrl-C; one agent on the real engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import {
  cli,
  cliOk,
  runningTasks,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type NodeJson,
} from '../helpers/cluster.js';
import {
  TEST_IMAGE,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
} from '../helpers/docker.js';
import { followLogs, type Follower } from '../helpers/log-follower.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'fleet-logs-echo';
/** Numbered lines on stdout and stderr, five times a second. */
const ECHO = 'i=0; while :; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.2; done';

test('service logs reads the engine: both streams, tail, since, follow and Ctrl-C', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const m = await startManager({ host: '127.0.21.11', heartbeat: '250ms' });
  const a = startAgent({
    manager: m.address,
    token: m.workerToken,
    name: 'logs-docker',
    address: '127.0.21.12',
    runtime: 'docker',
  });
  let nodeId = '';
  const followers: Follower[] = [];
  t.after(async () => {
    for (const f of followers) f.proc.kill('SIGKILL');
    await cli(m, ['service', 'rm', SERVICE]).catch(() => undefined);
    await stopProc(a.proc);
    if (nodeId) await cleanupContainers(nodeId);
    await stopProc(m.proc);
    for (const d of [m.dataDir, a.dataDir]) await fs.rm(d, { recursive: true, force: true });
  });
  const nodes: NodeJson[] = await waitForNodes(m, 1);
  nodeId = nodes[0]?.id ?? '';
  const create = ['service', 'create', '--detach', '--name', SERVICE, TEST_IMAGE];
  await cliOk(m, [...create, 'sh', '-c', ECHO]);
  await waitFor(async () => (await runningTasks(m, SERVICE)).length === 1, {
    what: 'the task running',
    timeoutMs: 30_000,
  });
  await waitFor(async () => /out 5\n/.test(await cliOk(m, ['service', 'logs', SERVICE])), {
    what: 'a few lines in the engine log',
    timeoutMs: 15_000,
    intervalMs: 250,
  });

  const tail = await cli(m, ['service', 'logs', '--tail', '2', '--no-task-ids', SERVICE], 20_000);
  assert.equal(tail.code, 0, tail.stderr);
  // Like docker logs, the tail counts the lines of both streams together: one of each here.
  const outLines = tail.stdout.trim().split('\n');
  const errLines = tail.stderr.trim().split('\n');
  assert.equal(outLines.length + errLines.length, 2, tail.stdout + tail.stderr);
  for (const l of outLines) assert.match(l, /^fleet-logs-echo\.1@logs-docker \| out \d+$/);
  for (const l of errLines) assert.match(l, /^fleet-logs-echo\.1@logs-docker \| err \d+$/);

  // The engine's times: --timestamps shows them, --since cuts by them.
  const stamped = await cliOk(m, ['service', 'logs', '--timestamps', SERVICE]);
  const times = [...stamped.matchAll(/\| (\S+) out (\d+)/g)].map((x) => ({
    t: Date.parse(x[1] ?? ''),
    n: Number(x[2]),
  }));
  assert.ok(times.length >= 6, stamped);
  const cut = times[Math.floor(times.length / 2)];
  assert.ok(cut);
  const since = await cliOk(m, [
    'service',
    'logs',
    '--since',
    new Date(cut.t).toISOString(),
    SERVICE,
  ]);
  const sinceNums = [...since.matchAll(/out (\d+)/g)].map((x) => Number(x[1]));
  assert.ok(sinceNums.length > 0 && Math.min(...sinceNums) >= cut.n - 1, since);
  assert.ok(!sinceNums.includes(0), 'the first line is before --since');

  // -f: new lines as they are written; Ctrl-C ends it.
  const f = followLogs(m, ['service', 'logs', '-f', '--tail', '1', SERVICE]);
  followers.push(f);
  const first = await waitFor(() => f.lines.find((l) => / out \d+$/.test(l.text)), {
    what: 'the first followed line',
    timeoutMs: 15_000,
  });
  const n0 = Number(/out (\d+)$/.exec(first.text)?.[1]);
  await waitFor(() => f.lines.some((l) => l.text.endsWith(` out ${n0 + 5}`)), {
    what: 'five more lines followed',
    timeoutMs: 10_000,
  });
  f.proc.kill('SIGINT');
  assert.equal(await f.exited, 0);
});
