// The runtime driver contract: one suite every Runtime implementation passes (Docker, processes, the fake).
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { ObservedWorkload, Runtime } from '../../agent/runtime/types.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { taskTemplateSchema, type PortSpec } from '../../shared/spec.js';
import { waitFor } from './wait.js';

export const HOST_IP = '127.0.0.2';
export const TEST_TIMEOUT = { timeout: 60_000 };
/** Exits promptly on SIGTERM even as PID 1 in a container, where default signal actions do not apply. */
export const LONG_RUNNING = ['/bin/sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"];
export const EXIT_3 = ['/bin/sh', '-c', 'exit 3'];

export type Kind = 'long' | 'exit3' | 'http';
export type MakeTask = (kind: Kind, id: string, slot: number) => AssignedTask;
/** Returns null when the runtime is unavailable and the test has been skipped. */
export type MakeRuntime = (t: TestContext) => Promise<Runtime | null>;

export const runTag = `${process.pid}-${Date.now().toString(36)}`;
let taskCounter = 0;
export const newTaskId = (kind: Kind): string => `${kind}-${runTag}-${++taskCounter}`;

export function assignedTask(
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

export async function findWorkload(
  rt: Runtime,
  nodeId: string,
  taskId: string,
): Promise<ObservedWorkload | undefined> {
  return (await rt.list(nodeId)).find((w) => w.taskId === taskId);
}

export function runtimeSuite(name: string, makeRuntime: MakeRuntime, makeTask: MakeTask): void {
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

    test('a stop is reported through watchExits', TEST_TIMEOUT, async (t) => {
      const rt = await setup(t);
      if (!rt) return;
      const exits = watch(rt, nodeId);
      const { task, workload } = await startTask(rt, 'long');
      await rt.stop(workload.runtimeId, 5000);
      const exit = await waitFor(() => exits.find((e) => e.taskId === task.id), {
        timeoutMs: 15_000,
        what: `the stop of ${task.id}`,
      });
      assert.equal(exit.runtimeId, workload.runtimeId);
      assert.equal((await findWorkload(rt, nodeId, task.id))?.running, false);
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
