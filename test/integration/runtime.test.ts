// Runtime driver contract: the shared suite run against the Docker runtime and the process runtime, and what each does beyond it.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { DockerRuntime } from '../../agent/runtime/docker/index.js';
import { ProcessRuntime } from '../../agent/runtime/process/index.js';
import {
  ImageUnavailableError,
  TaskRejectedError,
  type ObservedWorkload,
  type Runtime,
} from '../../agent/runtime/types.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { cleanupContainers, ensureTestImage, requireDocker } from '../helpers/docker.js';
import {
  EXIT_3,
  HOST_IP,
  LONG_RUNNING,
  TEST_TIMEOUT,
  assignedTask,
  findWorkload,
  newTaskId,
  runTag,
  runtimeSuite,
  type Kind,
} from '../helpers/runtime-contract.js';
import { waitFor } from '../helpers/wait.js';
// ---- Docker ----

const dockerNode = `node-docker-${runTag}`;
let dockerImage = '';

async function makeDockerRuntime(t: TestContext): Promise<Runtime | null> {
  if (!(await requireDocker(t))) return null;
  dockerImage = await ensureTestImage();
  return new DockerRuntime({ pullTimeoutMs: 20_000 });
}

function makeDockerTask(kind: Kind, id: string, slot: number): AssignedTask {
  if (kind === 'long') return assignedTask(id, slot, dockerImage, LONG_RUNNING);
  if (kind === 'exit3') return assignedTask(id, slot, dockerImage, EXIT_3);
  // The image's default command is busybox httpd serving /www on port 80.
  return assignedTask(id, slot, dockerImage, [], [{ target: 80 }]);
}

runtimeSuite('docker', makeDockerRuntime, makeDockerTask);

describe('docker runtime specifics', () => {
  const rt = new DockerRuntime({ pullTimeoutMs: 20_000 });
  after(async () => {
    await cleanupContainers(dockerNode).catch(() => undefined);
    await rt.close();
  });

  test(
    'a missing image makes prepare() fail with ImageUnavailableError',
    TEST_TIMEOUT,
    async (t) => {
      if (!(await requireDocker(t))) return;
      const task = assignedTask('missing-image', 1, '127.0.0.1:9/fleet-test/does-not-exist:1', []);
      const began = Date.now();
      await assert.rejects(rt.prepare(task), (e: unknown) => {
        assert.ok(e instanceof ImageUnavailableError, `got ${String(e)}`);
        assert.match(e.message, /127\.0\.0\.1:9\/fleet-test\/does-not-exist:1/);
        return true;
      });
      assert.ok(Date.now() - began < 25_000, 'prepare() gave up within its timeout');
    },
  );

  test('an executable missing from the image rejects the task', TEST_TIMEOUT, async (t) => {
    if (!(await requireDocker(t))) return;
    for (const init of [undefined, true]) {
      const task = assignedTask(newTaskId('long'), 1, await ensureTestImage(), ['/no/such/exe']);
      if (init) task.template = { ...task.template, init };
      await assert.rejects(
        rt.start(task, { nodeId: dockerNode, hostIp: HOST_IP }),
        TaskRejectedError,
        `rejected with init ${String(init)}`,
      );
      assert.deepEqual(await rt.list(dockerNode), [], 'the failed container was removed');
    }
  });

  test(
    'a program that cannot hear SIGTERM is killed at once; one that handles it gets its grace',
    TEST_TIMEOUT,
    async (t) => {
      if (!(await requireDocker(t))) return;
      const image = await ensureTestImage();
      const GRACE_MS = 20_000;
      const stop = async (
        command: string[],
        init?: boolean,
      ): Promise<{ ms: number; exitCode: number | null }> => {
        const task = assignedTask(newTaskId('long'), 1, image, command);
        task.template = { ...task.template, stopGracePeriodMs: GRACE_MS };
        if (init !== undefined) task.template = { ...task.template, init };
        const w = await rt.start(task, { nodeId: dockerNode, hostIp: HOST_IP });
        // The shell installs its trap as it starts: give it that moment.
        await new Promise((r) => setTimeout(r, 300));
        const began = Date.now();
        await rt.stop(w.runtimeId, GRACE_MS);
        const ms = Date.now() - began;
        const exitCode = (await findWorkload(rt, dockerNode, task.id))?.exitCode ?? null;
        await rt.remove(w.runtimeId);
        return { ms, exitCode };
      };
      // PID 1 without a handler: SIGTERM would be dropped, so the grace would be waited in vain.
      const deaf = await stop(['sleep', '600']);
      // Under an init, the init passes SIGTERM on and sleep dies of it.
      const underInit = await stop(['sleep', '600'], true);
      // A handler that takes a second: the signal is sent and the grace honoured.
      const handler = await stop([
        '/bin/sh',
        '-c',
        "trap 'sleep 1; exit 7' TERM; sleep 600 & wait",
      ]);
      t.diagnostic(
        `stops: no handler ${deaf.ms} ms (exit ${deaf.exitCode}), under --init ${underInit.ms} ms ` +
          `(exit ${underInit.exitCode}), handler ${handler.ms} ms (exit ${handler.exitCode})`,
      );
      assert.ok(deaf.ms < GRACE_MS / 2, `killed without waiting out the grace: ${deaf.ms} ms`);
      assert.equal(deaf.exitCode, 137, 'killed');
      assert.ok(underInit.ms < GRACE_MS / 2, `stopped by SIGTERM: ${underInit.ms} ms`);
      assert.equal(underInit.exitCode, 143, 'died of SIGTERM, through the init');
      assert.equal(handler.exitCode, 7, 'the handler ran: SIGTERM was sent, not a kill');
      assert.ok(handler.ms >= 900, `the handler had its time: ${handler.ms} ms`);
    },
  );

  test(
    'a container killed from outside is listed as stopped as soon as its exit is reported',
    TEST_TIMEOUT,
    async (t) => {
      if (!(await requireDocker(t))) return;
      dockerImage = await ensureTestImage();
      const task = assignedTask(`killed-${runTag}`, 1, dockerImage, LONG_RUNNING);
      await rt.prepare(task);
      const w = await rt.start(task, { nodeId: dockerNode, hostIp: HOST_IP });
      const listed = await rt.list(dockerNode);
      assert.equal(listed.find((l) => l.taskId === task.id)?.running, true);
      // The engine's list still says "running" just after it reports the death; the runtime
      // must not answer from what it saw before.
      const afterExit = new Promise<ObservedWorkload | undefined>((resolve) => {
        const stop = rt.watchExits(dockerNode, (runtimeId) => {
          if (runtimeId !== w.runtimeId) return;
          stop();
          resolve(rt.list(dockerNode).then((all) => all.find((l) => l.taskId === task.id)));
        });
      });
      await new Docker().getContainer(w.runtimeId).kill();
      const seen = await afterExit;
      assert.equal(seen?.running, false, 'the listing right after the exit event');
      assert.equal(seen?.exitCode, 137);
    },
  );

  test('info() reports Docker-style platform names', TEST_TIMEOUT, async (t) => {
    if (!(await requireDocker(t))) return;
    const info = await rt.info();
    assert.equal(info.os, 'linux');
    assert.ok(['amd64', 'arm64', 'arm', '386'].includes(info.arch), info.arch);
    assert.ok(info.cpus > 0 && info.memoryBytes > 0 && info.version.length > 0);
  });
});

// ---- Processes ----

const dataDirs: string[] = [];

async function newDataDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-proc-rt-'));
  dataDirs.push(dir);
  return dir;
}

after(async () => {
  for (const dir of dataDirs) await fs.rm(dir, { recursive: true, force: true });
});

const HTTP_SERVER = [
  "require('http')",
  ".createServer((q, s) => s.end('fleet-test ok\\n'))",
  '.listen(Number(process.env.PORT), process.env.FLEET_HOST_IP)',
].join('');

function makeProcessTask(kind: Kind, id: string, slot: number): AssignedTask {
  if (kind === 'long') return assignedTask(id, slot, 'none', LONG_RUNNING);
  if (kind === 'exit3') return assignedTask(id, slot, 'none', EXIT_3);
  return assignedTask(id, slot, 'none', [process.execPath, '-e', HTTP_SERVER], [{ target: 8080 }]);
}

runtimeSuite(
  'process',
  async () => new ProcessRuntime({ dataDir: await newDataDir() }),
  makeProcessTask,
);

async function recordedPid(dataDir: string, taskId: string): Promise<number> {
  const file = path.join(dataDir, 'processes', `${taskId}.json`);
  const rec: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
  const pid = typeof rec === 'object' && rec !== null && 'pid' in rec ? rec.pid : undefined;
  assert.ok(typeof pid === 'number' && pid > 0, `a pid is recorded in ${file}`);
  return pid;
}

describe('process runtime specifics', () => {
  const nodeId = `node-proc-${runTag}`;
  const runtimes: Runtime[] = [];
  const make = (dataDir: string): ProcessRuntime => {
    const rt = new ProcessRuntime({ dataDir });
    runtimes.push(rt);
    return rt;
  };
  after(async () => {
    for (const rt of runtimes) {
      for (const w of await rt.list(nodeId)) await rt.remove(w.runtimeId);
      await rt.close();
    }
  });

  test('a new instance on the same data dir adopts running processes', TEST_TIMEOUT, async () => {
    const dir = await newDataDir();
    const before = make(dir);
    const task = makeProcessTask('long', newTaskId('long'), 1);
    const started = await before.start(task, { nodeId, hostIp: HOST_IP });
    const restarted = make(dir);
    const listed = await findWorkload(restarted, nodeId, task.id);
    assert.equal(listed?.running, true);
    assert.equal(listed?.runtimeId, started.runtimeId);
    const exits: string[] = [];
    const unsubscribe = restarted.watchExits(nodeId, (_id, taskId) => exits.push(taskId));
    await restarted.stop(started.runtimeId, 5000);
    await waitFor(() => exits.includes(task.id), { timeoutMs: 5000, what: 'the adopted exit' });
    unsubscribe();
    assert.equal((await findWorkload(restarted, nodeId, task.id))?.running, false);
    await restarted.remove(started.runtimeId);
    assert.equal(await findWorkload(restarted, nodeId, task.id), undefined);
  });

  test('an adopted process that dies on its own is reported by polling', TEST_TIMEOUT, async () => {
    const dir = await newDataDir();
    const task = makeProcessTask('long', newTaskId('long'), 1);
    await make(dir).start(task, { nodeId, hostIp: HOST_IP });
    const restarted = make(dir);
    const exits: Array<number | null> = [];
    const unsubscribe = restarted.watchExits(nodeId, (_id, taskId, code) => {
      if (taskId === task.id) exits.push(code);
    });
    await waitFor(async () => (await findWorkload(restarted, nodeId, task.id))?.running, {
      what: 'the adopted process to be listed as running',
    });
    process.kill(-(await recordedPid(dir, task.id)), 'SIGKILL'); // dies behind the runtime's back
    await waitFor(() => exits.length > 0, { timeoutMs: 5000, what: 'the polled exit' });
    unsubscribe();
    assert.deepEqual(exits, [null], 'an adopted process leaves no exit code');
    assert.equal((await findWorkload(restarted, nodeId, task.id))?.running, false);
  });

  test('prepare() rejects an empty command and an unknown executable', TEST_TIMEOUT, async () => {
    const rt = make(await newDataDir());
    const empty = assignedTask(newTaskId('long'), 1, 'none', []);
    await assert.rejects(rt.prepare(empty), /needs a command/);
    const unknown = assignedTask(newTaskId('long'), 1, 'none', ['no-such-exe-for-fleet']);
    await assert.rejects(rt.prepare(unknown), (e: unknown) => {
      assert.ok(e instanceof TaskRejectedError);
      assert.match(e.message, /executable not found: no-such-exe-for-fleet/);
      return true;
    });
  });

  test('the task gets its environment and its output is logged', TEST_TIMEOUT, async () => {
    const dir = await newDataDir();
    const rt = make(dir);
    const task = assignedTask(newTaskId('exit3'), 1, 'none', [
      '/bin/sh',
      '-c',
      'echo "v=$GREETING"',
    ]);
    task.template.env = { GREETING: 'hello' };
    const exits: number[] = [];
    const unsubscribe = rt.watchExits(
      nodeId,
      (_r, id, code) => id === task.id && exits.push(code ?? -1),
    );
    await rt.start(task, { nodeId, hostIp: HOST_IP });
    await waitFor(() => exits.length > 0, { what: 'the echo to exit' });
    unsubscribe();
    assert.deepEqual(exits, [0]);
    const log = await fs.readFile(path.join(dir, 'logs', `${task.id}.log`), 'utf8');
    assert.equal(log.trim(), 'v=hello');
  });
});
