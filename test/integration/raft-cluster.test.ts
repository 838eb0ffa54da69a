// Three real managers on loopback: partitions, kill -9 of all of them, membership under load, leader demotion, stale reads, --force-new-cluster.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { connectClient, type RpcClient } from '../../manager/cli/rpc-client.js';
import { loadIdentity } from '../../manager/cli/connection.js';
import { errorMessage } from '../../shared/errors.js';
import {
  cli,
  cliJson,
  cliOk,
  clusterTarget,
  readLog,
  restartManager,
  startAgent,
  startManager,
  startManagers,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerJson,
  type ManagerProc,
  type ServiceJson,
  type TaskJson,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const DATA = Buffer.from('raft-cluster test value\n').toString('base64');

type Target = Pick<ManagerProc, 'address' | 'identity'>;

/** A CLI target that reaches this one manager only. */
const alone = (m: ManagerProc): Target => ({ address: m.address, identity: m.identity });

interface ConfigJson {
  id: string;
  name: string;
}

/**
 * Stops every process a test started, whatever happened, and removes their data dirs and logs.
 * When the test failed, the end of each manager's log is printed; FLEET_KEEP_LOGS=1 keeps the files.
 */
function track(t: TestContext): {
  manager(m: ManagerProc): ManagerProc;
  agent(a: AgentProc): AgentProc;
  passed(): void;
} {
  const managers: ManagerProc[] = [];
  const agents: AgentProc[] = [];
  let ok = false;
  t.after(async () => {
    await Promise.all(agents.map((a) => stopProc(a.proc)));
    await Promise.all(managers.map((m) => stopProc(m.proc, 'SIGKILL')));
    const files = [
      ...new Set([
        ...managers.flatMap((m) => [m.dataDir, m.log]),
        ...agents.flatMap((a) => [a.dataDir, a.log]),
      ]),
    ];
    if (!ok) {
      for (const log of new Set(managers.map((m) => m.log))) {
        const lines = (await readLog(log)).split('\n').filter((l) => !l.includes(' DEBUG '));
        t.diagnostic(`--- ${log}\n${lines.slice(-25).join('\n')}`);
      }
    }
    if (process.env.FLEET_KEEP_LOGS) return console.log(`kept:\n  ${files.join('\n  ')}`);
    await Promise.all(files.map((f) => fs.rm(f, { recursive: true, force: true })));
  });
  return {
    manager: (m) => (managers.push(m), m),
    agent: (a) => (agents.push(a), a),
    passed: () => (ok = true),
  };
}

async function managerList(target: Target, stale = false): Promise<ManagerJson[]> {
  return cliJson<ManagerJson[]>(target, ['manager', 'ls', ...(stale ? ['--stale'] : [])]);
}

/** The manager that leads, as the managers reachable through `target` see it. */
async function waitForLeader(
  target: Target,
  what: string,
  ok: (leader: ManagerJson, all: ManagerJson[]) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<{ leader: ManagerJson; all: ManagerJson[] }> {
  return waitFor(
    async () => {
      const all = await managerList(target);
      const leader = all.find((m) => m.leader);
      return leader && ok(leader, all) ? { leader, all } : null;
    },
    { what, timeoutMs, intervalMs: 200 },
  );
}

function procOf(managers: readonly ManagerProc[], view: ManagerJson): ManagerProc {
  const m = managers.find((p) => p.address === view.address);
  assert.ok(m, `a started manager listens at ${view.address}`);
  return m;
}

async function adminClient(
  managers: readonly ManagerProc[],
  timeoutMs = 5_000,
): Promise<RpcClient> {
  const first = managers[0];
  assert.ok(first);
  return connectClient({
    hosts: managers.map((m) => m.address),
    identity: await loadIdentity(first.identity),
    timeoutMs,
  });
}

async function configNames(target: Target, stale = false): Promise<string[]> {
  const list = await cliJson<ConfigJson[]>(target, ['config', 'ls', ...(stale ? ['--stale'] : [])]);
  return list.map((c) => c.name);
}

/** A small file for `fleet config create NAME FILE`, removed after the test. */
async function writeValueFile(t: TestContext): Promise<string> {
  const dir = tempDir('value');
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'value.txt');
  await fs.writeFile(file, 'value\n');
  return file;
}

/** Every acknowledged name is present exactly once, and nothing appears that was never sent. */
function assertWritesKept(names: string[], acked: string[], attempted: Set<string>): void {
  const seen = new Map<string, number>();
  for (const n of names) seen.set(n, (seen.get(n) ?? 0) + 1);
  const lost = acked.filter((n) => !seen.has(n));
  assert.deepEqual(lost, [], `${lost.length} acknowledged writes were lost`);
  const doubled = [...seen].filter(([, c]) => c > 1).map(([n]) => n);
  assert.deepEqual(doubled, [], 'no config is listed twice');
  const invented = names.filter((n) => !attempted.has(n));
  assert.deepEqual(invented, [], 'nothing appears that no writer sent');
}

/**
 * One writer issuing config creates one after the other until stopped; a failed create is
 * recorded (it may or may not have been applied) and the writer moves on to the next name.
 */
function steadyWriter(
  client: RpcClient,
  prefix: string,
): {
  acked: string[];
  attempted: Set<string>;
  errors: string[];
  stop(): Promise<void>;
} {
  const acked: string[] = [];
  const attempted = new Set<string>();
  const errors: string[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const name = `${prefix}-${i}`;
      attempted.add(name);
      try {
        await client.call('config.create', { name, data: DATA });
        acked.push(name);
      } catch (e) {
        errors.push(`${name}: ${errorMessage(e)}`);
        await sleep(200);
      }
      await sleep(25);
    }
  })();
  return {
    acked,
    attempted,
    errors,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Waits until `writer` has had `n` more writes acknowledged than it had when called. */
async function moreAcked(writer: { acked: string[] }, n: number, what: string): Promise<void> {
  const from = writer.acked.length;
  await waitFor(() => writer.acked.length >= from + n, {
    what: `${n} more acknowledged writes ${what}`,
    timeoutMs: 20_000,
    intervalMs: 50,
  });
}

test(
  'a partitioned leader cannot write; the majority elects a new one; after healing all three agree',
  { timeout: 150_000 },
  async (t) => {
    const tr = track(t);
    const managers = (await startManagers(3, { extraArgs: ['--fault-injection'] })).map((m) =>
      tr.manager(m),
    );
    const all = clusterTarget(managers);
    const valueFile = await writeValueFile(t);
    await cliOk(all, ['service', 'create', '--name', 'web', '--replicas', '0', '--detach', 'x']);
    await cliOk(all, ['config', 'create', 'before-split', valueFile]);

    const { leader, all: views } = await waitForLeader(all, 'a leader');
    const old = procOf(managers, leader);
    const followers = managers.filter((m) => m !== old);
    const followerIds = views.filter((v) => !v.leader).map((v) => v.id);
    assert.equal(followerIds.length, 2);

    // A long-lived client that was writing to the leader when the cut happened.
    const warmClient = await adminClient(managers, 2_000);
    t.after(() => warmClient.close());
    await warmClient.call('config.create', { name: 'warm-up', data: DATA });
    assert.equal(warmClient.host, old.address, 'the client follows the leader');

    const cutAt = Date.now();
    await fs.writeFile(path.join(old.dataDir, 'partition'), followerIds.join('\n') + '\n');
    // The manager logs when it applies DIR/partition (polled every 100 ms).
    await waitFor(
      async () => (await readLog(old.log)).includes('fault injection: partitioned from managers'),
      { what: 'the old leader to apply the partition', timeoutMs: 5_000 },
    );

    // The write to the old leader and the majority's election run side by side.
    const minorityWrite = cli(alone(old), ['config', 'create', 'lost-write', valueFile]).then(
      (r) => ({ ...r, ms: Date.now() - cutAt }),
    );
    const majority = clusterTarget(followers);
    const { leader: next } = await waitForLeader(
      majority,
      'a leader among the two connected managers',
      (l) => l.id !== leader.id,
    );
    await cliOk(majority, ['config', 'create', 'after-split', valueFile]);
    console.log(
      `partition: ${next.name} elected and a CLI write accepted ${Date.now() - cutAt} ms after the cut`,
    );
    await t.test(
      'a client that wrote to the old leader before the cut finds the new one',
      async () => {
        const at = Date.now();
        try {
          await warmClient.call('config.create', { name: 'after-split-client', data: DATA });
        } finally {
          console.log(`long-lived client write after the cut: ${Date.now() - at} ms`);
        }
      },
    );
    await t.test(
      'the CLI given every address, the cut-off leader first, writes to the majority',
      async () => {
        const hosts = [old, ...followers].map((m) => m.address).join(',');
        const at = Date.now();
        const r = await cli({ address: hosts, identity: old.identity }, [
          'config',
          'create',
          'after-split-cli',
          valueFile,
        ]);
        console.log(
          `CLI with the cut-off leader first: exit ${r.code} in ${Date.now() - at} ms: ${r.stderr.trim()}`,
        );
        assert.equal(r.code, 0, r.stderr);
      },
    );
    const minority = await minorityWrite;
    console.log(
      `write sent to the cut-off leader: exit ${minority.code} ${minority.ms} ms after the cut: ${minority.stderr.trim()}`,
    );
    // The CLI learns the other managers from the refusal and may carry the write to the
    // majority's leader; what must never happen is the cut-off manager committing it.
    const onMinority = await cliJson<{ name: string }[]>(alone(old), ['config', 'ls', '--stale']);
    assert.ok(
      !onMinority.some((c) => c.name === 'lost-write'),
      'the cut-off manager committed nothing',
    );
    if (minority.code === 0) {
      const onMajority = await cliJson<{ name: string }[]>(majority, ['config', 'ls']);
      assert.ok(
        onMajority.some((c) => c.name === 'lost-write'),
        'acknowledged by the majority',
      );
    } else {
      assert.match(minority.stderr, /no quorum|not_leader|does not lead/);
    }
    await cliOk(majority, ['service', 'update', '--detach', '--env-add', 'A=1', 'web']);

    await fs.writeFile(path.join(old.dataDir, 'partition'), '');
    const healed = await waitFor(
      async () => {
        const list = await managerList(all);
        const applied = new Set(list.map((m) => m.appliedIndex));
        return list.length === 3 &&
          list.every((m) => m.reachable && m.raft === 'voter') &&
          applied.size === 1 &&
          !applied.has(null)
          ? list
          : null;
      },
      { what: 'all three managers reachable at the same applied index', timeoutMs: 20_000 },
    );
    console.log(`healed at applied index ${healed[0]?.appliedIndex}`);

    const answers = await waitFor(
      async () => {
        const each = await Promise.all(
          managers.map(async (m) => ({
            services: await cliJson<ServiceJson[]>(alone(m), ['service', 'ls', '--stale']),
            configs: (await configNames(alone(m), true)).sort(),
          })),
        );
        const texts = new Set(each.map((a) => JSON.stringify(a)));
        return texts.size === 1 ? each : null;
      },
      { what: 'every manager to answer the same stale reads', timeoutMs: 15_000, intervalMs: 250 },
    );
    const configs = answers[0]?.configs ?? [];
    assert.ok(configs.includes('before-split'));
    assert.ok(configs.includes('after-split'), 'the majority’s write survived the heal');
    assert.equal(
      configs.includes('lost-write'),
      minority.code === 0,
      'the write sent to the cut-off leader exists exactly when it was acknowledged',
    );
    assert.deepEqual(
      answers[0]?.services.map((s) => s.name),
      ['web'],
    );
    tr.passed();
  },
);

test(
  'kill -9 of all three managers during a burst of writes loses no acknowledged write',
  { timeout: 180_000 },
  async (t) => {
    const tr = track(t);
    let managers = (await startManagers(3)).map((m) => tr.manager(m));
    const WRITERS = 8;
    const KILL_AT = 300;
    const clients: RpcClient[] = [];
    for (let i = 0; i < WRITERS; i++) clients.push(await adminClient(managers, 2_000));
    t.after(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))));

    const acked: string[] = [];
    const attempted = new Set<string>();
    const duplicates: string[] = [];
    const stopErrors: string[] = [];
    let killed = false;
    const killAll = (): void => {
      killed = true;
      for (const m of managers) m.proc.kill('SIGKILL');
    };
    const started = Date.now();
    const writer = async (c: RpcClient, w: number): Promise<void> => {
      for (let i = 0; ; i++) {
        const name = `burst-${w}-${i}`;
        attempted.add(name);
        try {
          await c.call('config.create', { name, data: DATA });
        } catch (e) {
          const msg = errorMessage(e);
          if (/already exists/.test(msg)) duplicates.push(`${name}: ${msg}`);
          if (!killed) stopErrors.push(`${name}: ${msg}`);
          return;
        }
        acked.push(name);
        if (!killed && acked.length >= KILL_AT) killAll();
      }
    };
    await Promise.all(clients.map((c, w) => writer(c, w)));
    assert.ok(killed, 'the burst reached the kill point');
    console.log(
      `burst: ${acked.length} writes acknowledged in ${Date.now() - started} ms (all managers killed after ${KILL_AT}), ${attempted.size} attempted`,
    );
    assert.deepEqual(stopErrors, [], 'no write failed before the managers were killed');
    assert.deepEqual(duplicates, [], 'no retried write was refused as a duplicate of itself');

    await Promise.all(managers.map((m) => stopProc(m.proc, 'SIGKILL')));
    managers = await Promise.all(managers.map((m) => restartManager(m)));
    for (const m of managers) tr.manager(m);
    const all = clusterTarget(managers);
    const restartedAt = Date.now();
    await waitForLeader(all, 'a leader after restarting all three', (_l, list) =>
      list.every((m) => m.reachable),
    );
    console.log(`restart: a leader with all three reachable ${Date.now() - restartedAt} ms later`);
    const names = await configNames(all);
    assertWritesKept(names, acked, attempted);
    console.log(
      `after restart: ${names.length} configs present, ${acked.length} were acknowledged`,
    );
    for (const m of managers) {
      const local = await waitFor(
        async () => {
          const n = await configNames(alone(m), true);
          return n.length === names.length ? n : null;
        },
        { what: `${m.address} to catch up`, timeoutMs: 15_000, intervalMs: 250 },
      );
      assertWritesKept(local, acked, attempted);
    }
    await cliOk(all, ['config', 'create', 'after-restart', await writeValueFile(t)]);
    tr.passed();
  },
);

test(
  'a CLI write issued right after kill -9 of the leader waits out the election and succeeds once',
  { timeout: 90_000 },
  async (t) => {
    const tr = track(t);
    const managers = (await startManagers(3)).map((m) => tr.manager(m));
    const all = clusterTarget(managers);
    const valueFile = await writeValueFile(t);
    const { leader } = await waitForLeader(all, 'a leader');
    const old = procOf(managers, leader);
    const killedAt = Date.now();
    old.proc.kill('SIGKILL');
    // FLEET_HOST lists every manager, the dead leader included, as an operator's would.
    const r = await cli(all, ['config', 'create', 'during-failover', valueFile]);
    console.log(
      `CLI write during failover: exit ${r.code} after ${Date.now() - killedAt} ms: ${r.stderr.trim()}`,
    );
    assert.equal(r.code, 0, r.stderr);
    const rest = clusterTarget(managers.filter((m) => m !== old));
    assert.deepEqual(
      (await configNames(rest)).filter((n) => n === 'during-failover'),
      ['during-failover'],
    );
    tr.passed();
  },
);

test(
  'a fourth manager joins and a follower leaves while a writer keeps writing',
  { timeout: 180_000 },
  async (t) => {
    const tr = track(t);
    const managers = (await startManagers(3)).map((m) => tr.manager(m));
    const client = await adminClient(managers);
    t.after(() => client.close());
    const writer = steadyWriter(client, 'steady');
    t.after(() => writer.stop());
    await moreAcked(writer, 10, 'before any change');

    const first = managers[0];
    assert.ok(first);
    const fourth = tr.manager(
      await startManager({
        host: '127.0.0.14',
        join: { address: clusterTarget(managers).address, managerToken: first.managerToken },
      }),
    );
    const four = [...managers, fourth];
    const joinedAt = Date.now();
    await waitFor(
      async () => {
        const list = await managerList(clusterTarget(four));
        return list.filter((m) => m.raft === 'voter' && m.reachable).length === 4;
      },
      { what: 'the fourth manager to become a voter', timeoutMs: 30_000, intervalMs: 250 },
    );
    console.log(`join: the fourth manager voted ${Date.now() - joinedAt} ms after it started`);
    await moreAcked(writer, 10, 'after the fourth manager joined');

    const { leader } = await waitForLeader(clusterTarget(four), 'a leader');
    const leaving = managers.find((m) => m.address !== leader.address);
    assert.ok(leaving);
    const leavingView = (await managerList(clusterTarget(four))).find(
      (v) => v.address === leaving.address,
    );
    assert.ok(leavingView);
    await cliOk(clusterTarget(four), ['node', 'demote', leavingView.id]);
    await waitFor(
      async () =>
        (await managerList(clusterTarget(four))).some(
          (v) => v.id === leavingView.id && v.raft === 'learner',
        ),
      { what: 'the demoted follower to become a learner', timeoutMs: 15_000, intervalMs: 200 },
    );
    await moreAcked(writer, 5, 'after the demotion');
    await stopProc(leaving.proc);
    const rest = four.filter((m) => m !== leaving);
    await cliOk(clusterTarget(rest), ['node', 'rm', '--force', leavingView.id]);
    const final = await waitFor(
      async () => {
        const list = await managerList(clusterTarget(rest));
        return list.length === 3 && list.every((m) => m.raft === 'voter' && m.reachable)
          ? list
          : null;
      },
      { what: 'three voting managers after the removal', timeoutMs: 15_000, intervalMs: 200 },
    );
    assert.ok(!final.some((v) => v.id === leavingView.id));
    await moreAcked(writer, 10, 'after the removal');
    await writer.stop();

    console.log(
      `membership: ${writer.acked.length} writes acknowledged, ${writer.errors.length} failed (retried as new writes)${writer.errors.length ? `: ${writer.errors.slice(0, 5).join('; ')}` : ''}`,
    );
    const names = await configNames(clusterTarget(rest));
    assertWritesKept(names, writer.acked, writer.attempted);
    tr.passed();
  },
);

test(
  'demoting the leader hands leadership over; the old leader stays a reachable learner until promoted',
  { timeout: 120_000 },
  async (t) => {
    const tr = track(t);
    const managers = (await startManagers(3)).map((m) => tr.manager(m));
    const all = clusterTarget(managers);
    const client = await adminClient(managers);
    t.after(() => client.close());
    const writer = steadyWriter(client, 'demote');
    t.after(() => writer.stop());
    await moreAcked(writer, 5, 'before the demotion');

    const { leader } = await waitForLeader(all, 'a leader');
    const demotedAt = Date.now();
    await client.call('node.demote', { node: leader.id });
    const acceptedAt = Date.now();
    // Polled through the open connection: a CLI process per poll would blur the figure.
    const next = await waitFor(
      async () => (await client.call('manager.ls', {})).find((m) => m.leader && m.id !== leader.id),
      { what: 'another manager to lead', timeoutMs: 10_000, intervalMs: 50 },
    );
    console.log(
      `demote: accepted in ${acceptedAt - demotedAt} ms; ${next.name} leads ${Date.now() - demotedAt} ms after the request`,
    );
    const demoted = await waitFor(
      async () => {
        const v = (await managerList(all)).find((m) => m.id === leader.id);
        return v?.raft === 'learner' ? v : null;
      },
      { what: 'the old leader to become a learner', timeoutMs: 10_000, intervalMs: 200 },
    );
    assert.equal(demoted.reachable, true, 'the demoted manager is still reachable');
    assert.equal(demoted.role, 'worker');
    await moreAcked(writer, 10, 'after the demotion');

    await cliOk(all, ['node', 'promote', leader.id]);
    await waitFor(
      async () => {
        const list = await managerList(all);
        return list.filter((m) => m.raft === 'voter' && m.reachable).length === 3;
      },
      { what: 'the promoted manager to vote again', timeoutMs: 15_000, intervalMs: 200 },
    );
    await moreAcked(writer, 5, 'after the promotion');
    await writer.stop();
    console.log(
      `demote: ${writer.acked.length} writes acknowledged, ${writer.errors.length} failed${writer.errors.length ? `: ${writer.errors.slice(0, 5).join('; ')}` : ''}`,
    );
    assertWritesKept(await configNames(all), writer.acked, writer.attempted);
    tr.passed();
  },
);

test(
  'without quorum a survivor answers reads marked stale and refuses writes',
  { timeout: 90_000 },
  async (t) => {
    const tr = track(t);
    const managers = (await startManagers(3)).map((m) => tr.manager(m));
    const all = clusterTarget(managers);
    await cliOk(all, ['service', 'create', '--name', 'keep', '--replicas', '0', '--detach', 'x']);
    const { leader } = await waitForLeader(all, 'a leader');
    const survivor = managers.find((m) => m.address !== leader.address);
    assert.ok(survivor);
    await Promise.all(managers.filter((m) => m !== survivor).map((m) => stopProc(m.proc)));

    const staleRead = async (what: string): Promise<void> => {
      const at = Date.now();
      const read = await cli(alone(survivor), ['service', 'ls', '--format', 'json']);
      console.log(`${what}: exit ${read.code} in ${Date.now() - at} ms: ${read.stderr.trim()}`);
      assert.equal(read.code, 0, read.stderr);
      assert.deepEqual(
        (JSON.parse(read.stdout) as ServiceJson[]).map((s) => s.name),
        ['keep'],
      );
      assert.match(read.stderr, /warning: .*may be stale/);
    };
    // At once: the survivor may still name the leader that just went away.
    await t.test('a read right after the loss', () => staleRead('read right after the loss'));
    await waitFor(async () => !(await managerList(alone(survivor), true)).some((v) => v.leader), {
      what: 'the survivor to notice it has no leader',
      timeoutMs: 10_000,
      intervalMs: 200,
    });
    await t.test('a read once the survivor has no leader', () =>
      staleRead('read once the survivor has no leader'),
    );

    const valueFile = await writeValueFile(t);
    const writeAt = Date.now();
    const write = await cli(alone(survivor), ['config', 'create', 'nope', valueFile]);
    const took = Date.now() - writeAt;
    console.log(`write without quorum: exit ${write.code} in ${took} ms: ${write.stderr.trim()}`);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /no quorum: 1 of 3 managers reachable/);
    tr.passed();
  },
);

test(
  '--force-new-cluster on the last manager keeps every service and task and accepts writes',
  { timeout: 150_000 },
  async (t) => {
    const tr = track(t);
    const managers = (await startManagers(3)).map((m) => tr.manager(m));
    const all = clusterTarget(managers);
    const first = managers[0];
    assert.ok(first);
    tr.agent(
      startAgent({
        manager: all.address,
        token: first.workerToken,
        name: 'fnc-agent',
        address: '127.0.0.2',
        runtime: 'process',
        dataDir: tempDir('agent-fnc'),
        extraArgs: ['--remove-tasks-on-stop'],
      }),
    );
    await waitForNodes({ ...first, address: all.address }, 1);
    await cliOk(all, [
      'service',
      'create',
      '--name',
      'sleeper',
      '--replicas',
      '2',
      '--detach',
      'busybox',
      '--',
      'sleep',
      '600',
    ]);
    await cliOk(all, ['service', 'create', '--name', 'idle', '--replicas', '0', '--detach', 'x']);
    const running = (tasks: TaskJson[]): TaskJson[] =>
      tasks.filter((x) => x.desiredState === 'running' && x.state === 'running');
    await waitFor(
      async () =>
        running(await cliJson<TaskJson[]>(all, ['service', 'ps', 'sleeper'])).length === 2,
      { what: 'two running tasks', timeoutMs: 30_000, intervalMs: 250 },
    );
    const servicesBefore = await cliJson<ServiceJson[]>(all, ['service', 'ls']);
    const tasksBefore = await cliJson<TaskJson[]>(all, ['service', 'ps', 'sleeper']);

    const { leader } = await waitForLeader(all, 'a leader');
    const survivor = managers.find((m) => m.address !== leader.address);
    assert.ok(survivor);
    const lost = managers.filter((m) => m !== survivor);
    await Promise.all(lost.map((m) => stopProc(m.proc, 'SIGKILL')));
    await stopProc(survivor.proc);

    const rebuiltAt = Date.now();
    const alive = tr.manager(await restartManager(survivor, ['--force-new-cluster']));
    const { all: views } = await waitForLeader(
      alone(alive),
      'the rebuilt manager to lead',
      (l) => l.address === alive.address,
    );
    console.log(
      `force-new-cluster: leading and answering ${Date.now() - rebuiltAt} ms after start`,
    );
    assert.deepEqual(
      views.filter((v) => v.raft === 'voter').map((v) => v.address),
      [alive.address],
    );
    const servicesAfter = await cliJson<ServiceJson[]>(alone(alive), ['service', 'ls']);
    assert.deepEqual(
      servicesAfter.map((s) => [s.id, s.name]).sort(),
      servicesBefore.map((s) => [s.id, s.name]).sort(),
    );
    const tasksAfter = await cliJson<TaskJson[]>(alone(alive), ['service', 'ps', 'sleeper']);
    assert.deepEqual(
      tasksAfter.map((x) => x.id).sort(),
      tasksBefore.map((x) => x.id).sort(),
      'every task is kept',
    );
    await cliOk(alone(alive), ['config', 'create', 'after-rebuild', await writeValueFile(t)]);
    await cliOk(alone(alive), ['service', 'scale', 'sleeper=3', '--detach']);
    await waitFor(
      async () =>
        running(await cliJson<TaskJson[]>(alone(alive), ['service', 'ps', 'sleeper'])).length === 3,
      { what: 'three running tasks after the rebuild', timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const v of views.filter((x) => x.address !== alive.address))
      await cliOk(alone(alive), ['node', 'rm', '--force', v.id]);
    const left = await managerList(alone(alive));
    assert.deepEqual(
      left.map((v) => v.address),
      [alive.address],
    );
    await cliOk(alone(alive), ['service', 'rm', 'sleeper']);
    tr.passed();
  },
);
