// Runtime driver contract: one suite run against the Docker runtime and the process runtime.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DockerRuntime } from '../../agent/runtime/docker/index.js';
import { ProcessRuntime } from '../../agent/runtime/process/index.js';
import {
  ImageUnavailableError,
  TaskRejectedError,
  type ObservedWorkload,
  type Runtime,
} from '../../agent/runtime/types.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { taskTemplateSchema, type PortSpec } from '../../shared/spec.js';
import { cleanupContainers, ensureTestImage, requireDocker } from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';

const HOST_IP = '127.0.0.2';
const TEST_TIMEOUT = { timeout: 60_000 };
/** Exits promptly on SIGTERM even as PID 1 in a container, where default signal actions do not apply. */
const LONG_RUNNING = ['/bin/sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"];
const EXIT_3 = ['/bin/sh', '-c', 'exit 3'];

type Kind = 'long' | 'exit3' | 'http';
type MakeTask = (kind: Kind, id: string, slot: number) => AssignedTask;
/** Returns null when the runtime is unavailable and the test has been skipped. */
type MakeRuntime = (t: TestContext) => Promise<Runtime | null>;

const runTag = `${process.pid}-${Date.now().toString(36)}`;
let taskCounter = 0;
const newTaskId = (kind: Kind): string => `${kind}-${runTag}-${++taskCounter}`;

function assignedTask(
  id: string,
  slot: number,
  image: string,
  command: string[],
  ports: Partial<PortSpec>[] = [],
): AssignedTask {
  return {
    id,
    serviceId: 'svc-test',
    serviceName: 'web',
    slot,
    notBefore: 0,
    template: taskTemplateSchema.parse({ image, command, ports, stopGracePeriodMs: 2000 }),
  };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

async function findWorkload(
  rt: Runtime,
  nodeId: string,
  taskId: string,
): Promise<ObservedWorkload | undefined> {
  return (await rt.list(nodeId)).find((w) => w.taskId === taskId);
}

function runtimeSuite(name: string, makeRuntime: MakeRuntime, makeTask: MakeTask): void {
  describe(`${name} runtime`, () => {
    const nodeId = `node-${name}-${runTag}`;
    const otherNode = `other-${name}-${runTag}`;
    let runtime: Runtime | null = null;
    const unsubscribes: Array<() => void> = [];

    const setup = async (t: TestContext): Promise<Runtime | null> => {
      runtime ??= await makeRuntime(t);
      return runtime;
    };
    const startTask = async (rt: Runtime, kind: Kind, slot = 1, node = nodeId) => {
      const task = makeTask(kind, newTaskId(kind), slot);
      await rt.prepare(task);
      return { task, workload: await rt.start(task, { nodeId: node, hostIp: HOST_IP }) };
    };
    const watch = (rt: Runtime, node: string) => {
      const exits: Array<{ runtimeId: string; taskId: string; exitCode: number | null }> = [];
      unsubscribes.push(
        rt.watchExits(node, (runtimeId, taskId, exitCode) => {
          exits.push({ runtimeId, taskId, exitCode });
        }),
      );
      return exits;
    };

    after(async () => {
      unsubscribes.forEach((u) => u());
      if (!runtime) return;
      for (const node of [nodeId, otherNode]) {
        for (const w of await runtime.list(node)) await runtime.remove(w.runtimeId);
      }
      await runtime.close();
    });

    test('a started workload is listed with its labels', TEST_TIMEOUT, async (t) => {
      const rt = await setup(t);
      if (!rt) return;
      const { task, workload } = await startTask(rt, 'long', 2);
      assert.equal(workload.running, true);
      assert.equal(workload.taskId, task.id);
      const listed = await findWorkload(rt, nodeId, task.id);
      assert.ok(listed, 'the workload is listed');
      assert.equal(listed.runtimeId, workload.runtimeId);
      assert.equal(listed.nodeId, nodeId);
      assert.equal(listed.serviceName, 'web');
      assert.equal(listed.slot, 2);
      assert.equal(listed.running, true);
      assert.equal(listed.exitCode, null);
      assert.ok(listed.startedAt !== null && listed.startedAt > Date.now() - 60_000);
    });

    test('an exit is reported through watchExits with its code', TEST_TIMEOUT, async (t) => {
      const rt = await setup(t);
      if (!rt) return;
      const exits = watch(rt, nodeId);
      const { task, workload } = await startTask(rt, 'exit3');
      const exit = await waitFor(() => exits.find((e) => e.taskId === task.id), {
        timeoutMs: 15_000,
        what: `the exit of ${task.id}`,
      });
      assert.equal(exit.exitCode, 3);
      assert.equal(exit.runtimeId, workload.runtimeId);
      const listed = await findWorkload(rt, nodeId, task.id);
      assert.equal(listed?.running, false);
      assert.equal(listed?.exitCode, 3);
      assert.ok(listed?.finishedAt !== null);
    });

    test('stop then remove makes a workload disappear', TEST_TIMEOUT, async (t) => {
      const rt = await setup(t);
      if (!rt) return;
      const { task, workload } = await startTask(rt, 'long');
      await rt.stop(workload.runtimeId, 5000);
      const stopped = await findWorkload(rt, nodeId, task.id);
      assert.equal(stopped?.running, false);
      await rt.stop(workload.runtimeId, 5000); // already stopped: a no-op
      await rt.remove(workload.runtimeId);
      assert.equal(await findWorkload(rt, nodeId, task.id), undefined);
      await rt.remove(workload.runtimeId); // already gone: a no-op
    });

    test('starting the same task again replaces the stale workload', TEST_TIMEOUT, async (t) => {
      const rt = await setup(t);
      if (!rt) return;
      const task = makeTask('long', newTaskId('long'), 3);
      const opts = { nodeId, hostIp: HOST_IP };
      await rt.prepare(task);
      await rt.start(task, opts);
      const second = await rt.start(task, opts);
      const listed = (await rt.list(nodeId)).filter((w) => w.taskId === task.id);
      assert.deepEqual(
        listed.map((w) => [w.runtimeId, w.running]),
        [[second.runtimeId, true]],
      );
    });

    test('another node id sees none of this node’s workloads', TEST_TIMEOUT, async (t) => {
      const rt = await setup(t);
      if (!rt) return;
      const otherExits = watch(rt, otherNode);
      const ownExits = watch(rt, nodeId);
      const { task: other } = await startTask(rt, 'long', 1, otherNode);
      const { task } = await startTask(rt, 'exit3');
      await waitFor(() => ownExits.some((e) => e.taskId === task.id), {
        timeoutMs: 15_000,
        what: `the exit of ${task.id}`,
      });
      const otherList = await rt.list(otherNode);
      assert.deepEqual(
        otherList.map((w) => w.taskId),
        [other.id],
      );
      assert.ok((await rt.list(nodeId)).every((w) => w.nodeId === nodeId));
      assert.equal(otherExits.length, 0, 'the other node was told about no exit');
    });

    test('a published port answers HTTP on the host address', TEST_TIMEOUT, async (t) => {
      const rt = await setup(t);
      if (!rt) return;
      const { workload } = await startTask(rt, 'http');
      const port = workload.hostPorts[0];
      assert.ok(port, 'a host port is reported');
      assert.equal(port.hostIp, HOST_IP);
      assert.ok(port.hostPort > 0);
      const url = `http://${HOST_IP}:${port.hostPort}/`;
      const res = await waitFor(() => httpGet(url), { timeoutMs: 15_000, what: `HTTP on ${url}` });
      assert.equal(res.status, 200);
      assert.match(res.body, /fleet-test ok/);
      const listed = await findWorkload(rt, nodeId, workload.taskId);
      assert.deepEqual(listed?.hostPorts, workload.hostPorts);
    });
  });
}

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
