// Discovery by name across two simulated nodes on one engine: bridges, the agent's DNS, virtual addresses and forwarding, driven by a hand-made table.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { connect } from 'node:net';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { RCODE, buildResponse, encodeName, parseQuery } from '../../agent/network/dns-codec.js';
import { DnsServer } from '../../agent/network/dns-server.js';
import { NetworkDiscovery } from '../../agent/network/discovery.js';
import { localNetworkName } from '../../agent/network/plan.js';
import { DockerRuntime } from '../../agent/runtime/docker/index.js';
import { createLogger, silentLogger } from '../../shared/log.js';
import { systemClock } from '../../shared/clock.js';
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
const backNet = `${stack}_back`;
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

async function discovery(
  nodeId: string,
  resolvConf: string,
  dataDir?: string,
): Promise<NetworkDiscovery> {
  const dir = dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-netdisc-')));
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

const DNS_PORT = 47053;
const UPSTREAM = '127.0.0.230';

/** A name server on UPSTREAM:53 that answers NXDOMAIN to every query. */
async function nxdomainServer(host: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    const q = parseQuery(msg);
    if (q.ok) s.send(buildResponse(q.query, RCODE.NXDOMAIN), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => s.bind(53, host, resolve));
  return s;
}

function sendDatagram(host: string, msg: Buffer): Promise<void> {
  const s = dgram.createSocket('udp4');
  return new Promise<void>((resolve) => s.send(msg, DNS_PORT, host, () => resolve())).finally(() =>
    s.close(),
  );
}

/** Asks the agent's name server over TCP for a name's A records. */
async function tcpLookup(
  host: string,
  name: string,
  type = 1,
  port = DNS_PORT,
): Promise<{ rcode: number; addresses: string[] }> {
  const q = Buffer.concat([
    Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    encodeName(name.split('.').filter(Boolean)),
    Buffer.from([0, type, 0, 1]),
  ]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(q.length);
  const socket = connect({ port, host });
  socket.end(Buffer.concat([len, q]));
  const chunks: Buffer[] = [];
  for await (const c of socket) chunks.push(c as Buffer);
  const reply = Buffer.concat(chunks).subarray(2);
  assert.equal(reply.readUInt16BE(0), 7);
  const answers = reply.readUInt16BE(6);
  const addresses = Array.from({ length: answers }, (_, i) => {
    const at = reply.length - (answers - i) * 16 + 12;
    return [...reply.subarray(at, at + 4)].join('.');
  });
  return { rcode: reply.readUInt16BE(2) & 0xf, addresses };
}

function table(version: number, services: string[], hostPort: number): DiscoveryTable {
  return {
    v: 1,
    version,
    networks: [
      {
        name: net,
        stack,
        // Internal (no route out): names still work, their forwarders are on the node itself.
        internal: true,
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
      {
        name: backNet,
        stack,
        internal: false,
        services: [
          {
            service: `${stack}_db`,
            names: ['db'],
            ports: [
              {
                target: 8080,
                protocol: 'tcp' as const,
                backends: [
                  { taskId: 'web-1', nodeId: node2.id, host: node2.address, port: hostPort },
                ],
              },
            ],
          },
        ],
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
    // The host's name server is a stand-in on loopback that knows no name at all (NXDOMAIN):
    // Docker's embedded DNS then asks no other server, as with a real upstream.
    const upstream = await nxdomainServer(UPSTREAM);
    cleanups.push(async () => upstream.close());
    const resolvConf = path.join(
      await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-resolv-')),
      'resolv.conf',
    );
    await fs.writeFile(resolvConf, `nameserver ${UPSTREAM}\n`);
    cleanups.push(() => fs.rm(path.dirname(resolvConf), { recursive: true, force: true }));
    const dir1 = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-netdisc-'));
    cleanups.push(() => fs.rm(dir1, { recursive: true, force: true }));
    let d1 = await discovery(node1.id, resolvConf, dir1);
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

    // A restarted agent carries on with its bridge and keeps the addresses it gave out.
    const before = [...d1.names(net)];
    await d1.close();
    d1 = await discovery(node1.id, resolvConf, dir1);
    rt1.useNetworks(d1);
    assert.deepEqual([...d1.names(net)], before);
    assert.equal(await inside(client.runtimeId, ['wget', '-qO-', 'http://web:8080/']), body);
    // The node itself may ask too (over TCP here), whatever source address its traffic gets.
    const gateway = `${vip.split('.').slice(0, 3).join('.')}.1`;
    assert.deepEqual(await tcpLookup(gateway, 'API.', 1, 53), {
      rcode: 0,
      addresses: [d1.names(net).get('api')],
    });

    // A task on two networks resolves the names of both; a task on one only that one's.
    const both = await rt1.start(task(`${stack}_both`, SLEEP, [net, backNet]), {
      nodeId: node1.id,
      hostIp: node1.address,
      image,
    });
    const viaSecond = await waitFor(
      () => inside(both.runtimeId, ['wget', '-qO-', 'http://db:8080/']),
      { what: 'db (second network) by name', timeoutMs: 30_000 },
    );
    assert.equal(viaSecond, body);
    assert.equal(await inside(both.runtimeId, ['wget', '-qO-', 'http://web:8080/']), body);
    await assert.rejects(
      inside(client.runtimeId, ['wget', '-qO-', 'http://db:8080/']),
      /bad address/,
    );

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

test('the name server answers over UDP and TCP, survives garbage, and ignores other subnets', async () => {
  const host = '127.0.0.203';
  const clock = systemClock;
  const names = new Map([['web', '10.213.9.128']]);
  const server = new DnsServer({
    host,
    port: DNS_PORT,
    allowClient: (a) => a.startsWith('127.0.0.'),
    names: () => names,
    upstream: () => ({ nameservers: ['127.0.0.229'], search: ['corp.example'] }),
    logger: silentLogger,
    clock,
  });
  await server.start();
  try {
    await sendDatagram(host, Buffer.from('not dns at all'));
    await sendDatagram(host, Buffer.alloc(3));
    const udp = dgram.createSocket('udp4');
    const reply = new Promise<Buffer>((resolve) => udp.once('message', resolve));
    udp.send(
      Buffer.concat([
        Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
        encodeName(['web']),
        Buffer.from([0, 1, 0, 1]),
      ]),
      DNS_PORT,
      host,
    );
    const answer = await reply;
    udp.close();
    assert.equal(answer.readUInt16BE(0), 9);
    assert.deepEqual([...answer.subarray(answer.length - 4)], [10, 213, 9, 128]);
    assert.deepEqual(await tcpLookup(host, 'WEB.'), { rcode: 0, addresses: ['10.213.9.128'] });
    assert.deepEqual(await tcpLookup(host, 'web', 28), { rcode: 0, addresses: [] });
    assert.deepEqual(await tcpLookup(host, 'web.corp.example'), { rcode: 3, addresses: [] });
    // Nothing answers upstream (loopback, closed port): SERVFAIL within the bound.
    assert.deepEqual(await tcpLookup(host, 'rabbit'), { rcode: 2, addresses: [] });
  } finally {
    await server.close();
  }
  const shut = new DnsServer({
    host,
    port: DNS_PORT,
    allowClient: () => false,
    names: () => names,
    upstream: () => ({ nameservers: [], search: [] }),
    logger: silentLogger,
    clock,
  });
  await shut.start();
  try {
    await assert.rejects(tcpLookup(host, 'web'));
  } finally {
    await shut.close();
  }
});
