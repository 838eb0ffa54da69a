// Full disks: a manager refuses writes with a clear error and recovers; an agent keeps its tasks and says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  cli,
  cliJson,
  cliOk,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
  type ServiceJson,
  type TaskJson,
} from '../helpers/cluster.js';
import { fillDisk, freeDisk, mountTmpfs, unmount } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait.js';

function integrityCheck(dataDir: string): string {
  const db = new Database(path.join(dataDir, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

const serviceNames = async (m: ManagerProc): Promise<string[]> =>
  (await cliJson<ServiceJson[]>(m, ['service', 'ls'])).map((s) => s.name).sort();

test(
  'a manager whose disk is full refuses writes with a one-line error, keeps answering reads, and recovers when space returns',
  { timeout: 90_000 },
  async (t) => {
    const dataDir = tempDir('mgr-full');
    const procs: { manager?: ManagerProc } = {};
    let mounted = false;
    // One hook, in order: nothing may still use the mount when it goes, pass or fail.
    t.after(async () => {
      if (procs.manager) await stopProc(procs.manager.proc);
      if (mounted) await unmount(dataDir);
      await fs.rm(dataDir, { recursive: true, force: true });
      await fs.rm(`${dataDir}.log`, { force: true });
    });
    mounted = await mountTmpfs(t, dataDir, '2m');
    if (!mounted) return;
    const m = await startManager({ dataDir });
    procs.manager = m;
    await cliOk(m, ['service', 'create', '--name', 'before', '--detach', 'busybox']);

    const filler = fillDisk(dataDir);
    for (const name of ['full1', 'full2']) {
      const r = await cli(m, ['service', 'create', '--name', name, '--detach', 'busybox']);
      assert.notEqual(r.code, 0, `create ${name} on a full disk succeeded: ${r.stdout}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `expected one line of error, got: ${r.stderr}`);
      assert.match(lines[0] ?? '', /the manager's disk is full; nothing was written/);
    }
    const upd = await cli(m, ['service', 'update', 'before', '--replicas', '3']);
    assert.notEqual(upd.code, 0, 'an update on a full disk succeeded');
    assert.match(upd.stderr, /the manager's disk is full; nothing was written/);

    assert.equal(m.proc.exitCode, null, 'the manager exited on a full disk');
    assert.deepEqual(await serviceNames(m), ['before'], 'reads still answer, unchanged');
    const detail = await cliJson<{ spec: { replicas: number } }>(m, [
      'service',
      'inspect',
      'before',
    ]);
    assert.equal(detail.spec.replicas, 1, 'the refused update left memory as it was');

    await freeDisk(filler);
    await cliOk(m, ['service', 'create', '--name', 'after', '--detach', 'busybox']);
    await cliOk(m, ['service', 'update', 'before', '--replicas', '2', '--detach']);
    assert.deepEqual(await serviceNames(m), ['after', 'before']);
    assert.equal(integrityCheck(dataDir), 'ok');
  },
);

/** Pids of the task processes an agent's process runtime recorded, by task id. */
async function recordedPids(agentDir: string): Promise<Map<string, number>> {
  const dir = path.join(agentDir, 'process-runtime', 'processes');
  const out = new Map<string, number>();
  for (const name of await fs.readdir(dir).catch(() => [])) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const raw = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as {
      taskId: string;
      pid: number;
      exited: boolean;
    };
    if (!raw.exited) out.set(raw.taskId, raw.pid);
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Ends the task processes this test's agent started (they outlive the agent by design). */
async function killRecorded(agentDir: string): Promise<void> {
  for (const pid of (await recordedPids(agentDir)).values()) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

interface NodeInspect {
  name: string;
  status: string;
  statusMessage: string;
}

test(
  'an agent whose disk is full keeps its running task, reports "disk full" in node inspect, and clears it when space returns',
  { timeout: 120_000 },
  async (t) => {
    const agentDir = tempDir('agent-full');
    const procs: { manager?: ManagerProc; agent?: AgentProc } = {};
    let mounted = false;
    t.after(async () => {
      const { manager, agent } = procs;
      if (manager) await cli(manager, ['service', 'rm', 'keep']);
      if (agent) await stopProc(agent.proc);
      if (mounted) await killRecorded(agentDir);
      if (manager) await stopProc(manager.proc);
      if (mounted) await unmount(agentDir);
      await fs.rm(agentDir, { recursive: true, force: true });
      await fs.rm(`${agentDir}.log`, { force: true });
      if (manager) {
        await fs.rm(manager.dataDir, { recursive: true, force: true });
        await fs.rm(manager.log, { force: true });
      }
    });
    mounted = await mountTmpfs(t, agentDir, '4m');
    if (!mounted) return;
    const m = await startManager();
    procs.manager = m;
    const agent = startAgent({
      manager: m.address,
      token: m.workerToken,
      name: 'full',
      address: '127.0.0.31',
      runtime: 'process',
      dataDir: agentDir,
      // No reserve: pre-flight would refuse every task on this 4 MiB disk, and this test is about
      // a disk that fills after the checks passed.
      extraArgs: ['--min-free-disk', '0'],
    });
    procs.agent = agent;
    await waitForNodes(m, 1);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      'keep',
      '--detach',
      'busybox',
      '--',
      'sleep',
      '600',
    ]);
    const running = (n: number) => async (): Promise<TaskJson[] | null> => {
      const tasks = (await cliJson<TaskJson[]>(m, ['service', 'ps', 'keep'])).filter(
        (x) => x.desiredState === 'running' && x.state === 'running',
      );
      return tasks.length === n ? tasks : null;
    };
    const [first] = await waitFor(running(1), {
      what: 'the first task running',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    assert.ok(first);
    const pid = (await recordedPids(agentDir)).get(first.id);
    assert.ok(
      pid !== undefined && alive(pid),
      `the first task ${first.id} has a live recorded process: ${JSON.stringify([...(await recordedPids(agentDir))])}`,
    );

    const filler = fillDisk(agentDir);
    // The new assignment must be persisted but cannot be, and the new task cannot be recorded.
    await cliOk(m, ['service', 'update', 'keep', '--replicas', '2', '--detach']);
    const inspectFull = await waitFor(
      async () => {
        const out = await cliOk(m, ['node', 'inspect', 'full']);
        const n = JSON.parse(out) as NodeInspect;
        return n.statusMessage === 'disk full' ? out : null;
      },
      { what: 'node inspect to say "disk full"', timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.match(inspectFull, /"statusMessage": ?"disk full"/);
    // A few assignment and start attempts go by on the full disk; the first task is untouched.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(agent.proc.exitCode, null, 'the agent exited on a full disk');
    assert.ok(alive(pid), 'the running task was killed while the disk was full');
    const stillRunning = (await cliJson<TaskJson[]>(m, ['service', 'ps', 'keep'])).find(
      (x) => x.id === first.id,
    );
    assert.equal(stillRunning?.state, 'running');
    const saved = JSON.parse(await fs.readFile(path.join(agentDir, 'assignment.json'), 'utf8')) as {
      tasks: unknown[];
    };
    assert.equal(saved.tasks.length, 1, 'the saved assignment is the last one that fit');

    await freeDisk(filler);
    await waitFor(
      async () => {
        const n = await cliJson<NodeInspect>(m, ['node', 'inspect', 'full']);
        return n.statusMessage !== 'disk full' && n.status === 'ready';
      },
      { what: 'the disk full flag to clear', timeoutMs: 20_000, intervalMs: 250 },
    );
    const two = await waitFor(running(2), {
      what: 'both tasks running once space returned',
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    assert.ok(
      two.some((x) => x.id === first.id),
      'the first task was replaced',
    );
    assert.equal((await recordedPids(agentDir)).get(first.id), pid, 'the first task kept its pid');
    assert.ok(alive(pid));
    const after = JSON.parse(await fs.readFile(path.join(agentDir, 'assignment.json'), 'utf8')) as {
      tasks: unknown[];
    };
    assert.equal(after.tasks.length, 2, 'the newest assignment was saved once space returned');
  },
);
