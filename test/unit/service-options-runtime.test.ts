// Service options in the runtimes: the engine's create options, the out-of-memory reason, the refusals of device tasks and of the process runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import type Docker from 'dockerode';
import { createOptions } from '../../agent/runtime/docker/create-options.js';
import { toWorkload } from '../../agent/runtime/docker/observe.js';
import { DockerRuntime } from '../../agent/runtime/docker/runtime.js';
import { checkProcessOptions, spawnSettings } from '../../agent/runtime/process/task-options.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { taskTemplateSchema } from '../../shared/spec.js';
function task(template: Record<string, unknown>, slot = 2): AssignedTask {
  return {
    id: 'task1',
    serviceId: 'svc',
    serviceName: 'cam',
    slot,
    notBefore: 0,
    template: taskTemplateSchema.parse({ image: 'img', ...template }),
  };
}

test('the docker runtime maps every option to the engine, fleet labels and file mounts first', () => {
  const t = task({
    mounts: [
      {
        type: 'volume',
        source: 'pics',
        target: '/pics',
        volumeDriver: 'local',
        volumeOptions: { o: 'x' },
      },
      { type: 'bind', source: '/srv', target: '/srv', readOnly: true },
      { type: 'tmpfs', target: '/run', tmpfsSizeBytes: 1024 },
    ],
    readOnly: true,
    devices: [{ host: '/dev/null', container: '/dev/fake0', permissions: 'rwm' }],
    privileged: true,
    capAdd: ['NET_ADMIN'],
    capDrop: ['MKNOD'],
    groupAdd: ['dialout'],
    sysctls: { 'net.ipv4.ip_forward': '1' },
    ulimits: [{ name: 'nofile', soft: 10, hard: 20 }],
    limits: { cpu: 1.5, memoryBytes: 32 * 1024 * 1024 },
    hostname: '{{.Service.Name}}-{{.Task.Slot}}-{{.Node.Hostname}}',
    user: 'nobody',
    workdir: '/work',
    containerLabels: { team: 'vision', 'fleet.task.id': 'forged' },
    stopSignal: 'SIGINT',
    dns: ['9.9.9.9'],
    tty: true,
  });
  const files = {
    mounts: [{ source: '/var/secret', target: '/run/secrets/k' }],
    secretsDir: null,
    configsDir: null,
  };
  const o = createOptions(t, { nodeId: 'node1', nodeName: 'pi1', hostIp: '127.0.0.1', files }, 'n');
  const h = o.HostConfig ?? {};
  assert.equal(o.Hostname, 'cam-2-pi1');
  assert.equal(o.User, 'nobody');
  assert.equal(o.WorkingDir, '/work');
  assert.equal(o.StopSignal, 'SIGINT');
  assert.equal(o.Tty, true);
  assert.equal(o.Labels?.team, 'vision');
  assert.equal(o.Labels?.['fleet.task.id'], 'task1');
  assert.deepEqual(
    h.Mounts?.map((m) => [m.Type, m.Source, m.Target, m.ReadOnly]),
    [
      ['bind', '/var/secret', '/run/secrets/k', true],
      ['volume', 'pics', '/pics', false],
      ['bind', '/srv', '/srv', true],
      ['tmpfs', '', '/run', false],
    ],
  );
  assert.deepEqual(h.Mounts?.[1]?.VolumeOptions?.DriverConfig, {
    Name: 'local',
    Options: { o: 'x' },
  });
  assert.equal(h.Mounts?.[3]?.TmpfsOptions?.SizeBytes, 1024);
  assert.equal(h.ReadonlyRootfs, true);
  assert.deepEqual(h.Devices, [
    { PathOnHost: '/dev/null', PathInContainer: '/dev/fake0', CgroupPermissions: 'rwm' },
  ]);
  assert.equal(h.Privileged, true);
  assert.deepEqual([h.CapAdd, h.CapDrop, h.GroupAdd], [['NET_ADMIN'], ['MKNOD'], ['dialout']]);
  assert.deepEqual(h.Sysctls, { 'net.ipv4.ip_forward': '1' });
  assert.deepEqual(h.Ulimits, [{ Name: 'nofile', Soft: 10, Hard: 20 }]);
  assert.equal(h.NanoCpus, 1_500_000_000);
  assert.equal(h.Memory, 32 * 1024 * 1024);
  assert.deepEqual(h.Dns, ['9.9.9.9']);
  assert.equal(h.RestartPolicy?.Name, 'no');
  const bare = createOptions(task({}), { nodeId: 'node1', hostIp: '127.0.0.1' }, 'n');
  for (const k of ['Hostname', 'User', 'WorkingDir', 'Tty']) assert.equal(k in bare, false, k);
  for (const k of ['Mounts', 'Memory', 'NanoCpus', 'Privileged', 'Devices'])
    assert.equal(k in (bare.HostConfig ?? {}), false, k);
});

test('a container the kernel killed for memory reports it, with its limit', () => {
  const info = {
    Id: 'c1',
    Config: { Labels: { 'fleet.node.id': 'n', 'fleet.task.id': 't', 'fleet.slot': '1' } },
    State: {
      Running: false,
      OOMKilled: true,
      ExitCode: 137,
      StartedAt: '2026-01-01T00:00:00Z',
      FinishedAt: '2026-01-01T00:00:01Z',
    },
    HostConfig: { Memory: 32 * 1024 * 1024 },
    NetworkSettings: { Ports: {} },
  } as unknown as Docker.ContainerInspectInfo;
  assert.equal(toWorkload(info)?.exitReason, 'out of memory (limit 32 MiB)');
  const plain = {
    ...info,
    State: { ...info.State, OOMKilled: false },
  } as Docker.ContainerInspectInfo;
  assert.equal(toWorkload(plain)?.exitReason, undefined);
});

test('the process runtime honours --workdir and a numeric --user, and refuses what needs a container', async () => {
  const ok = taskTemplateSchema.parse({ image: 'x', workdir: os.tmpdir(), user: '1000:100' });
  await checkProcessOptions(ok);
  assert.deepEqual(spawnSettings(ok), { cwd: os.tmpdir(), uid: 1000, gid: 100 });
  const refused = taskTemplateSchema.parse({
    image: 'x',
    mounts: [{ type: 'tmpfs', target: '/t' }],
    limits: { memoryBytes: 64 * 1024 * 1024 },
    devices: [{ host: '/dev/null', container: '/dev/null', permissions: 'r' }],
  });
  await assert.rejects(checkProcessOptions(refused), {
    name: 'TaskRejectedError',
    message:
      'the process runtime cannot honour --mount, --device, --limit-cpu/--limit-memory: run this service on a Docker agent',
  });
  await assert.rejects(
    checkProcessOptions(taskTemplateSchema.parse({ image: 'x', user: 'www' })),
    /numeric --user/,
  );
  await assert.rejects(
    checkProcessOptions(taskTemplateSchema.parse({ image: 'x', workdir: '/no/such/dir' })),
    /working directory \/no\/such\/dir does not exist/,
  );
});

test('a Docker agent without --allow-devices rejects a device task with the reason, before asking the engine', async () => {
  // No engine listens here: a refusal must come before any call to it.
  const runtime = new DockerRuntime({ socketPath: '/nonexistent/docker.sock' });
  await assert.rejects(
    runtime.prepare(
      task({
        devices: [{ host: '/dev/null', container: '/dev/fake0', permissions: 'rwm' }],
        capAdd: ['NET_ADMIN'],
      }),
    ),
    {
      name: 'TaskRejectedError',
      message:
        'this node does not allow devices: --device, --cap-add need an agent started with --allow-devices',
    },
  );
  const allowed = new DockerRuntime({ socketPath: '/nonexistent/docker.sock', allowDevices: true });
  // Allowed, it goes on to the engine, which is not there.
  await assert.rejects(allowed.prepare(task({ privileged: true })), /nonexistent\/docker\.sock/);
});
