// Discovery by name across two simulated nodes on one engine: bridges, the agent's DNS, virtual addresses and forwarding, driven by a hand-made table.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { NetworkDiscovery } from '../../agent/network/discovery.js';
import { localNetworkName } from '../../agent/network/plan.js';
import { DockerRuntime } from '../../agent/runtime/docker/index.js';
import { createLogger, silentLogger } from '../../shared/log.js';
import type { DiscoveryTable } from '../../shared/network.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { taskTemplateSchema } from '../../shared/spec.js';
import {
  DOCKER_SOCKET,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
} from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);
const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const stack = `nd${tag}`;
const net = `${stack}_webnet`;
const otherNet = `x${tag}_other`;
const node1 = { id: `n1${tag}`, address: '127.0.0.201' };
const node2 = { id: `n2${tag}`, address: '127.0.0.202' };
const docker = new Docker({ socketPath: DOCKER_SOCKET });
const cleanups: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  // Whatever a failed run left: this run's bridges, found by the node labels.
  for (const n of [node1, node2]) {
    await cleanupContainers(n.id).catch(() => undefined);
    const nets = await docker.listNetworks({ filters: { label: [`fleet.node.id=${n.id}`] } });
    for (const x of nets)
      await docker
        .getNetwork(x.Id)
        .remove()
        .catch(() => undefined);
  }
});

let taskCounter = 0;
function task(service: string, command: string[], networks: string[]): AssignedTask {
  return {
    id: `t${tag}-${++taskCounter}`,
    serviceId: service,
    serviceName: service,
    slot: 1,
    notBefore: 0,
    template: taskTemplateSchema.parse({
      image: 'unused',
      command,
      networks: networks.map((name) => ({ name })),
      expose: [{ port: 8080 }],
      stopGracePeriodMs: 1000,
    }),
  };
}

const SLEEP = ['/bin/sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"];

async function discovery(nodeId: string, resolvConf: string): Promise<NetworkDiscovery> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-netdisc-'));
  const d = new NetworkDiscovery({
    nodeId,
    dataDir: dir,
    logger: process.env.FLEET_TEST_DEBUG ? createLogger(nodeId) : silentLogger,
    resolvConf,
  });
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  cleanups.push(() => d.removeAll());
  await d.start();
  return d;
}

/**
 * Runs a command in a container (no wget -T: this busybox build crashes with it); resolves with its output, or rejects when it exits non-zero. */
async function inside(containerId: string, cmd: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('docker', ['exec', containerId, ...cmd], {
      timeout: 15_000,
    });
    return stdout;
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    throw new Error(`${cmd.join(' ')}: ${stderr.trim() || String(e)}`);
  }
}

function table(version: number, services: string[], hostPort: number): DiscoveryTable {
  return {
    v: 1,
    version,
    networks: [
      {
        name: net,
        stack,
        internal: false,
        services: services.map((s) => ({
          service: `${stack}_${s}`,
          names: [s, `${stack}_${s}`],
          ports: [
            {
              target: 8080,
              protocol: 'tcp' as const,
              backends: [
                { taskId: 'web-1', nodeId: node2.id, host: node2.address, port: hostPort },
              ],
            },
          ],
        })),
      },
      { name: otherNet, internal: false, services: [] },
    ],
    stacks: [stack],
  };
}

test(
  'a task on node 1 reaches a service on node 2 by name; names added later resolve; other networks cannot',
  { timeout: 180_000 },
  async (t) => {
    if (!(await requireDocker(t))) return;
    const image = await ensureTestImage();
    // Upstream DNS goes nowhere but loopback: names the agent does not know get SERVFAIL.
    const resolvConf = path.join(
      await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-resolv-')),
      'resolv.conf',
    );
    await fs.writeFile(resolvConf, 'nameserver 127.0.0.230\n');
    cleanups.push(() => fs.rm(path.dirname(resolvConf), { recursive: true, force: true }));
    const d1 = await discovery(node1.id, resolvConf);
    const d2 = await discovery(node2.id, resolvConf);
    const rt1 = new DockerRuntime({ networks: d1 });
    const rt2 = new DockerRuntime({ networks: d2 });
    cleanups.push(
      () => rt1.close(),
      () => rt2.close(),
    );
    cleanups.push(
      () => cleanupContainers(node1.id),
      () => cleanupContainers(node2.id),
    );

    // The backend on node 2: its exposed port is bound on node 2's address.
    const web = await rt2.start(
      task(`${stack}_web`, ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'], [net]),
      {
        nodeId: node2.id,
        hostIp: node2.address,
        image,
      },
    );
    const bound = web.hostPorts.find((p) => p.target === 8080);
    assert.ok(bound, `port 8080 is bound: ${JSON.stringify(web.hostPorts)}`);
    assert.equal(bound.hostIp, node2.address);

    d1.accept(table(1, ['web'], bound.hostPort));
    d2.accept(table(1, ['web'], bound.hostPort));
    const client = await rt1.start(task(`${stack}_client`, SLEEP, [net]), {
      nodeId: node1.id,
      hostIp: node1.address,
      image,
    });
    const info = await docker.getContainer(client.runtimeId).inspect();
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), [localNetworkName(net, node1.id)]);

    const body = await waitFor(
      () => inside(client.runtimeId, ['wget', '-qO-', 'http://web:8080/']),
      {
        what: 'web by name from node 1',
        timeoutMs: 30_000,
      },
    );
    assert.equal(body, 'fleet-test ok\n');
    const full = await inside(client.runtimeId, ['wget', '-qO-', `http://${stack}_web:8080/`]);
    assert.equal(full, 'fleet-test ok\n');
    const vip = d1.names(net).get('web');
    assert.ok(
      vip && Number(vip.split('.')[3]) >= 128,
      `a virtual address in the upper half: ${vip}`,
    );

    // A service added to the table afterwards resolves from the container already running.
    d1.accept(table(2, ['web', 'api'], bound.hostPort));
    const api = await waitFor(
      () => inside(client.runtimeId, ['wget', '-qO-', 'http://api:8080/']),
      {
        what: 'api by name after the table changed',
        timeoutMs: 30_000,
      },
    );
    assert.equal(api, 'fleet-test ok\n');

    // A container of another network resolves none of these names and cannot use the address.
    const stranger = await rt1.start(task(`x${tag}_stranger`, SLEEP, [otherNet]), {
      nodeId: node1.id,
      hostIp: node1.address,
      image,
    });
    await assert.rejects(
      inside(stranger.runtimeId, ['wget', '-qO-', 'http://web:8080/']),
      /bad address/,
    );
    await assert.rejects(
      inside(stranger.runtimeId, ['wget', '-qO-', `http://${vip}:8080/`]),
      /reset|refused/,
    );

    // The stack goes: once its containers are gone, the table without it removes node 1's bridge.
    await cleanupContainers(node1.id);
    d1.accept({ v: 1, version: 3, networks: [], stacks: [] });
    await waitFor(
      async () => {
        const left = await docker.listNetworks({
          filters: { label: [`fleet.node.id=${node1.id}`] },
        });
        return left.length === 0;
      },
      { what: "node 1's bridges removed", timeoutMs: 30_000 },
    );
    assert.equal(d1.names(net).size, 0);
  },
);
