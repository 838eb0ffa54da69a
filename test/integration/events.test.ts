// `fleet events` end to end: a killed board's fall, its tasks orphaned and replaced elsewhere, an update paused, filters, JSON, following and bad flags.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import type { FleetEvent } from '../../shared/events.js';
import {
  cli,
  cliOk,
  runningTasks,
  spawnFleet,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type CliResult,
  type ManagerProc,
  type TaskJson,
} from '../helpers/cluster.js';
import { killTasksOf } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const HOSTS = ['127.0.22.2', '127.0.22.3', '127.0.22.4'];
/** `service ps --format json` names each task's node too. */
const running = async (m: ManagerProc): Promise<(TaskJson & { nodeName: string | null })[]> =>
  (await runningTasks(m, 'web')) as (TaskJson & { nodeName: string | null })[];
const iso = (ms: number): string => new Date(ms).toISOString();

/** `fleet events` over a closed time range (it returns), which must succeed. */
async function events(m: ManagerProc, since: number, extra: string[] = []): Promise<string[]> {
  const r = await cli(m, ['events', '--since', iso(since), '--until', iso(Date.now()), ...extra]);
  assert.equal(r.code, 0, `fleet events failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.length > 0);
}

const lastIndexOf = (lines: string[], re: RegExp): number => lines.findLastIndex((l) => re.test(l));

/** The index of the first line matching `re` at or after `from`, or -1. */
const indexOf = (lines: string[], re: RegExp, from = 0): number =>
  lines.findIndex((l, i) => i >= from && re.test(l));

test('fleet events shows a node going down and its tasks moving, in order, with reasons', async (t) => {
  const m = await startManager({ host: '127.0.22.1', heartbeat: '250ms' });
  const agents: AgentProc[] = HOSTS.map((address, i) =>
    startAgent({
      manager: m.address,
      token: m.workerToken,
      name: `ev-${i + 1}`,
      address,
      runtime: 'process',
      extraArgs: ['--remove-tasks-on-stop'],
    }),
  );
  const t0 = Date.now() - 1000;
  try {
    await waitForNodes(m, 3);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      'web',
      '--detach',
      '--replicas',
      '3',
      'busybox',
      '--',
      'sleep',
      '600',
    ]);
    const placed = await waitFor(
      async () => {
        const r = await running(m);
        return r.length === 3 && new Set(r.map((x) => x.node)).size === 3 ? r : null;
      },
      { what: 'three web tasks, one per node', timeoutMs: 30_000, intervalMs: 250 },
    );
    const victim = agents[0];
    assert.ok(victim);
    const doomed = placed.find((x) => x.nodeName === victim.name);
    assert.ok(doomed, `a web task on ${victim.name}`);
    await stopProc(victim.proc, 'SIGKILL');
    await killTasksOf(victim.address);
    await waitFor(
      async () => {
        const r = await running(m);
        return r.length === 3 && r.every((x) => x.nodeName !== victim.name) ? r : null;
      },
      {
        what: 'web back to 3 running tasks on the other nodes',
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );

    await t.test(
      'the text lines: down, the task orphaned, a new one running elsewhere',
      async () => {
        const lines = await events(m, t0);
        // The last fall of the board: a loaded machine may have seen it flap while it started.
        const down = lastIndexOf(
          lines,
          new RegExp(
            `^\\S+Z node down ${victim.name} \\(.*reason=(no heartbeat for \\d+s|connection lost)\\)$`,
          ),
        );
        assert.ok(down >= 0, `a node down line in:\n${lines.join('\n')}`);
        const orphaned = indexOf(
          lines,
          new RegExp(`task orphaned ${doomed.name} \\(.*node=${victim.name}.*reason=node down\\)`),
          down,
        );
        assert.ok(orphaned > down, `the task orphaned after the node fell:\n${lines.join('\n')}`);
        const replaced = indexOf(
          lines,
          new RegExp(`task running ${doomed.name} \\(.*node=(?!${victim.name})`),
          orphaned,
        );
        assert.ok(
          replaced > orphaned,
          `a replacement running elsewhere after:\n${lines.join('\n')}`,
        );
        assert.ok(indexOf(lines, /service created web/) >= 0);
        t.diagnostic(lines.slice(down, replaced + 1).join('\n'));
      },
    );

    await t.test('--filter type=node keeps only node events', async () => {
      const lines = await events(m, t0, ['--filter', 'type=node']);
      assert.ok(lines.length > 0);
      assert.ok(
        lines.every((l) => / node /.test(l)),
        lines.join('\n'),
      );
      assert.ok(lines.some((l) => l.includes(`node down ${victim.name}`)));
      assert.ok(lines.some((l) => l.includes(`node joined ev-2`)));
    });

    await t.test('--format json prints one object per line in sequence order', async () => {
      const lines = await events(m, t0, ['--format', 'json', '--filter', 'service=web']);
      const parsed = lines.map((l) => JSON.parse(l) as FleetEvent & { time: string });
      assert.ok(parsed.length > 3);
      for (let i = 1; i < parsed.length; i++)
        assert.ok((parsed[i]?.seq ?? 0) > (parsed[i - 1]?.seq ?? 0), 'increasing seq');
      const orphan = parsed.find((e) => e.type === 'task' && e.action === 'orphaned');
      assert.equal(orphan?.attrs.reason, 'node down');
      assert.equal(orphan?.attrs.node, victim.name);
      assert.match(parsed[0]?.time ?? '', /^\d{4}-\d{2}-\d{2}T.*Z$/);
    });

    await t.test(
      'an update whose tasks fail is started, then paused, with the reason',
      async () => {
        const r = await cli(m, [
          'service',
          'update',
          'web',
          '--detach',
          '--args',
          "sh -c 'exit 3'",
          '--update-failure-action',
          'pause',
          '--update-monitor',
          '2s',
          '--update-parallelism',
          '1',
        ]);
        assert.equal(r.code, 0, r.stderr);
        const lines = await waitFor(
          async () => {
            const l = await events(m, t0, ['--filter', 'type=update']);
            return l.some((x) => x.includes('update update paused web')) ? l : null;
          },
          { what: 'an update paused event', timeoutMs: 40_000, intervalMs: 500 },
        );
        const started = indexOf(lines, /update update started web/);
        const paused = indexOf(lines, /update update paused web \(.*reason=.+\)/);
        assert.ok(started >= 0 && paused > started, lines.join('\n'));
      },
    );

    await t.test(
      'without --since only new events print, and the command follows them',
      async () => {
        const log = `${m.dataDir}-follow.log`;
        const follower = spawnFleet(
          ['events', '--filter', 'type=service', '--host', m.address, '--identity', m.identity],
          log,
        );
        let out = '';
        follower.stdout?.on('data', (c: Buffer) => (out += c.toString()));
        try {
          // Its first call marks where "new" begins; only then is the service created.
          await new Promise((r) => setTimeout(r, 1500));
          await cliOk(m, [
            'service',
            'create',
            '--name',
            'probe',
            '--detach',
            '--replicas',
            '0',
            'busybox',
            '--',
            'sleep',
            '1',
          ]);
          await waitFor(() => (out.includes('service created probe') ? true : null), {
            what: 'the follower to print the new service',
            timeoutMs: 15_000,
            intervalMs: 100,
          });
          assert.ok(!out.includes('service created web'), `old events were printed:\n${out}`);
        } finally {
          await stopProc(follower);
        }
      },
    );

    await t.test('bad flags get a clear error and exit code 2', async () => {
      const bad: CliResult = await cli(m, ['events', '--filter', 'type=container']);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /Invalid value for --filter: "type=container" \(expected type=node\|task\|service\|update\|manager\)/,
      );
      const when = await cli(m, ['events', '--since', 'last tuesday']);
      assert.equal(when.code, 2);
      assert.match(when.stderr, /Invalid value for --since/);
      const format = await cli(m, ['events', '--format', 'yaml']);
      assert.equal(format.code, 2);
      assert.match(format.stderr, /Invalid value for --format: "yaml" \(expected text\|json\)/);
    });
  } finally {
    for (const a of agents) await stopProc(a.proc);
    for (const a of agents) await killTasksOf(a.address);
    await stopProc(m.proc);
    for (const d of [m.dataDir, ...agents.map((a) => a.dataDir)])
      await fs.rm(d, { recursive: true, force: true });
  }
});
