// Power cuts: kill -9 a manager mid-write and an agent mid-persist, many times; nothing acknowledged is lost, nothing is unreadable.
import { processesWithEnv } from '../helpers/processes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { connectClient, type RpcClient } from '../../manager/cli/rpc-client.js';
import { loadIdentity } from '../../manager/cli/connection.js';
import { errorMessage, isFleetError } from '../../shared/errors.js';
import { ProcessRuntime } from '../../agent/runtime/process/index.js';
import { RUNTIME_ENV, runtimeMark } from '../../agent/runtime/process/liveness.js';
import { removeStaleTemps } from '../../shared/atomic-file.js';
import { assignmentSchema, type AssignedTask } from '../../shared/protocol.js';
import { taskTemplateSchema } from '../../shared/spec.js';
import {
  REPO,
  cli,
  cliJson,
  cliOk,
  restartAgent,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
  type NodeJson,
  type TaskJson,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const MANAGER_TRIALS = 20;
/** Writes planned per trial; the manager is killed at a random acknowledged count below it. */
const WRITES = 1_000;
const CONNECTIONS = 8;
/** Every CREATE_EVERY-th write creates a service; the others update a per-connection one. */
const CREATE_EVERY = 4;
const PERSIST_TRIALS = 25;

function integrityCheck(dataDir: string): string {
  const db = new Database(path.join(dataDir, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

const randomInt = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface TrialOutcome {
  acknowledged: number;
  createdNames: string[];
  /** Per connection: the last SEQ value the manager acknowledged, and the last one sent. */
  lastAcked: number[];
  lastSent: number[];
  unexpected: string[];
}

/**
 * Runs up to WRITES writes over CONNECTIONS connections and SIGKILLs the manager the moment
 * `killAt` of them are acknowledged, while the others are still in flight.
 */
async function writeAndKill(m: ManagerProc, trial: number, killAt: number): Promise<TrialOutcome> {
  const identity = await loadIdentity(m.identity);
  const clients: RpcClient[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    clients.push(await connectClient({ hosts: [m.address], identity, timeoutMs: 10_000 }));
  }
  const exited = once(m.proc, 'exit');
  const out: TrialOutcome = {
    acknowledged: 0,
    createdNames: [],
    lastAcked: Array.from({ length: CONNECTIONS }, () => -1),
    lastSent: Array.from({ length: CONNECTIONS }, () => -1),
    unexpected: [],
  };
  let next = 0;
  let killed = false;
  const worker = async (c: RpcClient, w: number): Promise<void> => {
    while (next < WRITES) {
      const i = next++;
      const seq = trial * WRITES + i;
      const name = `c${trial}-${i}`;
      const create = i % CREATE_EVERY === 0;
      try {
        if (create) {
          await c.call('service.create', {
            spec: { name, replicas: 0, task: { image: 'fleet-test/none:1' } },
          });
        } else {
          out.lastSent[w] = seq;
          await c.call('service.update', { service: `u${w}`, envAdd: { SEQ: String(seq) } });
        }
      } catch (e) {
        const lostManager = killed && isFleetError(e) && e.code === 'unavailable';
        if (!lostManager) out.unexpected.push(`write ${i}: ${errorMessage(e)}`);
        return;
      }
      if (create) out.createdNames.push(name);
      else out.lastAcked[w] = seq;
      out.acknowledged++;
      if (!killed && out.acknowledged >= killAt) {
        killed = true;
        m.proc.kill('SIGKILL');
      }
    }
  };
  try {
    await Promise.all(clients.map((c, w) => worker(c, w)));
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
  assert.ok(killed, `trial ${trial}: writes ended before ${killAt} were acknowledged`);
  await exited;
  return out;
}

test(
  `a manager killed with SIGKILL at random points of ${WRITES} writes loses no acknowledged write and keeps an intact database, ${MANAGER_TRIALS} times`,
  { timeout: 300_000 },
  async (t) => {
    const dataDir = tempDir('crash');
    let manager = await startManager({ dataDir });
    const port = Number(manager.address.split(':')[1]);
    t.after(async () => {
      await stopProc(manager.proc);
      await fs.rm(dataDir, { recursive: true, force: true });
      await fs.rm(manager.log, { force: true });
    });
    for (let w = 0; w < CONNECTIONS; w++) {
      await cliOk(manager, [
        'service',
        'create',
        '--name',
        `u${w}`,
        '--replicas',
        '0',
        '--detach',
        'busybox',
      ]);
    }

    const created: string[] = [];
    const floor = Array.from({ length: CONNECTIONS }, () => -1);
    const killPoints: number[] = [];
    let totalAcked = 0;
    const started = Date.now();
    for (let trial = 0; trial < MANAGER_TRIALS; trial++) {
      // One random point in each twentieth of the range: all of it is covered, and the total
      // number of writes (so the run time) does not depend on luck.
      const band = WRITES / MANAGER_TRIALS;
      const killAt = randomInt(
        Math.max(1, Math.floor(trial * band)),
        Math.floor((trial + 1) * band),
      );
      killPoints.push(killAt);
      const o = await writeAndKill(manager, trial, killAt);
      assert.deepEqual(o.unexpected, [], `trial ${trial}: writes failed before the kill`);
      totalAcked += o.acknowledged;
      created.push(...o.createdNames);

      const t0 = Date.now();
      manager = await startManager({ dataDir, port });
      const t1 = Date.now();
      const reader = await connectClient({
        hosts: [manager.address],
        identity: await loadIdentity(manager.identity),
        timeoutMs: 20_000,
      });
      const names = new Set((await reader.call('service.ls', {})).map((s) => s.name));
      const lost = created.filter((n) => !names.has(n));
      assert.deepEqual(lost, [], `trial ${trial}: acknowledged creates missing after the restart`);
      for (let w = 0; w < CONNECTIONS; w++) {
        const d = await reader.call('service.inspect', { service: `u${w}` });
        const seq = Number(d.spec.task.env.SEQ ?? -1);
        const acked = o.lastAcked[w] ?? -1;
        if (acked >= 0) floor[w] = acked;
        // At least the last acknowledged update; at most the one that was in flight.
        assert.ok(
          seq >= (floor[w] ?? -1),
          `trial ${trial}: u${w} lost update ${floor[w]}, has ${seq}`,
        );
        assert.ok(
          seq <= Math.max(o.lastSent[w] ?? -1, floor[w] ?? -1),
          `trial ${trial}: u${w} has ${seq}, never sent`,
        );
        floor[w] = seq;
      }
      await reader.close();
      assert.equal(integrityCheck(dataDir), 'ok', `trial ${trial}: integrity_check`);
      t.diagnostic(
        `trial ${trial}: killed at ${killAt} acknowledged (${o.acknowledged} by the kill), ` +
          `restart ${t1 - t0} ms, checks ${Date.now() - t1} ms`,
      );
    }
    t.diagnostic(
      `${MANAGER_TRIALS} trials, ${totalAcked} acknowledged writes, ${created.length} creates, ` +
        `kill points ${killPoints.join(',')}, ${Math.round((Date.now() - started) / 1000)} s`,
    );
  },
);

const CRASHY_ADDRESS = '127.0.0.32';

const PERSIST_LOOP = path.join(REPO, 'dist', 'test', 'helpers', 'persist-loop.js');

/** Runs the persistence loop, SIGKILLs it `afterMs` after its first write, returns what it reported. */
async function persistAndKill(file: string, afterMs: number): Promise<number> {
  const child = spawn(process.execPath, [PERSIST_LOOP, file, 'node-crash'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // 'close', not 'exit': every report already in the pipe is read before it fires.
  const exited = once(child, 'close');
  let buffered = '';
  let stderr = '';
  let lastWritten = 0;
  let firstSeen: () => void = () => undefined;
  const first = new Promise<void>((r) => (firstSeen = r));
  child.stdout.on('data', (c: Buffer) => {
    buffered += c.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) if (l) lastWritten = Math.max(lastWritten, Number(l));
    if (lastWritten > 0) firstSeen();
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    await Promise.race([first, exited]);
    assert.ok(lastWritten > 0, `the persistence loop wrote nothing: ${stderr}`);
    await sleep(afterMs);
    child.kill('SIGKILL');
    const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.equal(signal, 'SIGKILL', `the loop ended on its own: ${stderr}`);
  } finally {
    clearTimeout(guard);
  }
  return lastWritten;
}

test(
  `a process killed with SIGKILL while persisting assignments always leaves a valid, complete file, ${PERSIST_TRIALS} times`,
  { timeout: 120_000 },
  async (t) => {
    const dir = tempDir('persist');
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'assignment.json');
    const seen: string[] = [];
    for (let trial = 0; trial < PERSIST_TRIALS; trial++) {
      const afterMs = randomInt(0, 300);
      const reported = await persistAndKill(file, afterMs);
      const text = await fs.readFile(file, 'utf8');
      let raw: unknown;
      assert.doesNotThrow(() => (raw = JSON.parse(text)), `trial ${trial}: unparseable file`);
      const parsed = assignmentSchema.safeParse(raw);
      assert.ok(parsed.success, `trial ${trial}: the file fails assignmentSchema`);
      const version = parsed.data.version;
      // Every version reported was fully written; the one in flight may or may not have landed.
      assert.ok(
        version === reported || version === reported + 1,
        `trial ${trial}: file has version ${version}, last reported ${reported}`,
      );
      assert.equal(parsed.data.nodeId, 'node-crash');
      seen.push(`${afterMs}ms:v${version}`);
    }
    const leftovers = (await fs.readdir(dir)).filter((n) => n.endsWith('.tmp')).length;
    // What an agent does at start: the interrupted writes' temp files go, the file stays.
    assert.equal(await removeStaleTemps(file), leftovers);
    assert.deepEqual(await fs.readdir(dir), ['assignment.json']);
    t.diagnostic(
      `${PERSIST_TRIALS} kills (ms after the first write: version on disk): ${seen.join(' ')}`,
    );
    t.diagnostic(`temp files left by interrupted writes, then removed: ${leftovers}`);
  },
);

/** Ends the task processes a process-runtime agent started (they outlive the agent by design). */
async function killRecorded(agentDir: string): Promise<void> {
  const dir = path.join(agentDir, 'process-runtime', 'processes');
  for (const name of await fs.readdir(dir).catch(() => [])) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    try {
      const rec = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as { pid: number };
      process.kill(-rec.pid, 'SIGKILL');
    } catch {
      // unreadable record or already gone
    }
  }
}

async function readAssignment(agentDir: string): Promise<{ version: number; tasks: number }> {
  const raw = JSON.parse(
    await fs.readFile(path.join(agentDir, 'assignment.json'), 'utf8'),
  ) as unknown;
  const a = assignmentSchema.parse(raw);
  return { version: a.version, tasks: a.tasks.length };
}

test(
  'an agent killed with SIGKILL while the manager pushes assignment changes restarts with a valid assignment file',
  { timeout: 120_000 },
  async (t) => {
    const m = await startManager();
    let agent: AgentProc | undefined;
    t.after(async () => {
      await cli(m, ['service', 'rm', 'churn']);
      if (agent) await stopProc(agent.proc);
      if (agent) await killRecorded(agent.dataDir);
      for (const pid of await processesWithEnv(`FLEET_HOST_IP=${CRASHY_ADDRESS}`)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await stopProc(m.proc);
      for (const d of [m.dataDir, agent?.dataDir])
        if (d) await fs.rm(d, { recursive: true, force: true });
      for (const f of [m.log, agent?.log]) if (f) await fs.rm(f, { force: true });
    });
    agent = startAgent({
      manager: m.address,
      token: m.workerToken,
      name: 'crashy',
      address: CRASHY_ADDRESS,
      runtime: 'process',
    });
    await waitForNodes(m, 1);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      'churn',
      '--detach',
      'busybox',
      '--',
      'sleep',
      '600',
    ]);
    await waitFor(() => readAssignment(agent?.dataDir ?? '').then((a) => a.tasks === 1), {
      what: 'the first assignment saved',
      timeoutMs: 20_000,
      intervalMs: 100,
    });

    const client = await connectClient({
      hosts: [m.address],
      identity: await loadIdentity(m.identity),
      timeoutMs: 10_000,
    });
    const killAfterMs = randomInt(300, 1_500);
    let scales = 0;
    let stop = false;
    const churn = (async (): Promise<void> => {
      for (let i = 0; !stop && i < 500; i++) {
        await client.call('service.update', { service: 'churn', replicas: 1 + (i % 4) });
        scales++;
        await sleep(randomInt(5, 40));
      }
    })();
    await sleep(killAfterMs);
    const a = agent;
    const dead = once(a.proc, 'exit');
    a.proc.kill('SIGKILL');
    await dead;
    const scalesAtKill = scales;
    await sleep(200);
    stop = true;
    await churn;
    await client.call('service.update', { service: 'churn', replicas: 2 });
    await client.close();

    const atKill = await readAssignment(a.dataDir);
    agent = restartAgent(a, m.address, 'process');
    const restarted = agent;
    await waitFor(
      async () => {
        const nodes = await cliJson<NodeJson[]>(m, ['node', 'ls']);
        return nodes.some((n) => n.name === 'crashy' && n.status === 'ready');
      },
      { what: 'the restarted agent ready', timeoutMs: 30_000, intervalMs: 250 },
    );
    await waitFor(
      async () => {
        const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'churn']);
        return (
          tasks.filter((x) => x.desiredState === 'running' && x.state === 'running').length === 2
        );
      },
      { what: 'two churn tasks running after the restart', timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal(restarted.proc.exitCode, null, 'the restarted agent exited');
    // A kill between spawning a task and recording it must not leave an untracked process.
    const tasksAlive = await waitFor(
      async () => {
        const pids = await processesWithEnv(`FLEET_HOST_IP=${CRASHY_ADDRESS}`);
        return pids.length === 2 ? pids : null;
      },
      { what: 'exactly the two running task processes', timeoutMs: 15_000, intervalMs: 250 },
    );
    assert.equal(tasksAlive.length, 2);
    const final = await readAssignment(restarted.dataDir);
    assert.equal(final.tasks, 2);
    assert.ok(final.version >= atKill.version);
    t.diagnostic(
      `agent killed ${killAfterMs} ms into the churn after ${scalesAtKill} scale changes; ` +
        `file at the kill: version ${atKill.version}, ${atKill.tasks} tasks`,
    );
  },
);

test(
  'a task process spawned but never recorded whose task was then removed is ended when the agent starts again',
  { timeout: 30_000, skip: process.platform !== 'linux' && 'needs /proc' },
  async (t) => {
    const dir = tempDir('strays');
    const first = new ProcessRuntime({ dataDir: dir });
    const kept: AssignedTask = {
      id: 'kept1',
      serviceId: 'svc',
      serviceName: 'svc',
      slot: 1,
      notBefore: 0,
      template: taskTemplateSchema.parse({ image: 'none', command: ['sleep', '600'] }),
    };
    await first.start(kept, { nodeId: 'n1', hostIp: '127.0.0.1' });
    const sleeper = (env: Record<string, string>) =>
      spawn('sleep', ['600'], { detached: true, stdio: 'ignore', env: { ...process.env, ...env } });
    // Left by an agent killed between spawn and record; its task no longer exists anywhere.
    const stray = sleeper({ FLEET_TASK_ID: 'gone1', [RUNTIME_ENV]: runtimeMark(dir) });
    // Another agent's task on the same board, and a process fleet never started.
    const other = sleeper({ FLEET_TASK_ID: 'gone1', [RUNTIME_ENV]: runtimeMark(`${dir}-other`) });
    const plain = sleeper({});
    const strayGone = once(stray, 'exit');
    const second = new ProcessRuntime({ dataDir: dir });
    t.after(async () => {
      for (const p of [stray, other, plain]) p.kill('SIGKILL');
      for (const w of await second.list('n1').catch(() => []))
        await second.remove(w.runtimeId).catch(() => undefined);
      await first.close();
      await second.close();
      await fs.rm(dir, { recursive: true, force: true });
    });
    const live = await second.list('n1');
    const outcome = await Promise.race([strayGone, sleep(5_000).then(() => null)]);
    assert.ok(outcome, 'the stray process still runs after the agent started again');
    assert.equal((outcome as [number | null, NodeJS.Signals | null])[1], 'SIGKILL');
    assert.equal(other.exitCode ?? other.signalCode, null, "another agent's task was left alone");
    assert.equal(
      plain.exitCode ?? plain.signalCode,
      null,
      'a process fleet never started was left alone',
    );
    assert.deepEqual(
      live.map((w) => [w.taskId, w.running]),
      [['kept1', true]],
      'the recorded task still runs',
    );
  },
);

test(
  'a task process spawned but never recorded (the agent killed in between) is ended when the task starts again',
  { timeout: 30_000, skip: process.platform !== 'linux' && 'needs /proc' },
  async (t) => {
    const dir = tempDir('unrecorded');
    const runtime = new ProcessRuntime({ dataDir: dir });
    const task: AssignedTask = {
      id: 'unrecorded1',
      serviceId: 'svc',
      serviceName: 'svc',
      slot: 1,
      notBefore: 0,
      template: taskTemplateSchema.parse({ image: 'none', command: ['sleep', '600'] }),
    };
    // What the killed agent left: the process, with the task id in its environment, no record.
    const orphan = spawn('sleep', ['600'], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, FLEET_TASK_ID: task.id },
    });
    const orphanGone = once(orphan, 'exit');
    t.after(async () => {
      orphan.kill('SIGKILL');
      const rec = await runtime.list('n1').catch(() => []);
      for (const w of rec) await runtime.remove(w.runtimeId).catch(() => undefined);
      await runtime.close();
      await fs.rm(dir, { recursive: true, force: true });
    });
    await runtime.start(task, { nodeId: 'n1', hostIp: '127.0.0.1' });
    const outcome = await Promise.race([orphanGone, sleep(5_000).then(() => null)]);
    assert.ok(outcome, 'the unrecorded process still runs after the task started again');
    const [, signal] = outcome as [number | null, NodeJS.Signals | null];
    assert.equal(signal, 'SIGKILL', 'the unrecorded process was ended');
    const live = await runtime.list('n1');
    assert.equal(live.length, 1);
    assert.equal(live[0]?.running, true, 'the task itself runs, once');
  },
);
