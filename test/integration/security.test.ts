// Broker security against a real manager: anonymous clients refused, nodes confined to their own topics, join tokens checked and rotatable.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ErrorWithSubackPacket, type MqttClient } from 'mqtt';
import { identitySchema, makeConnectProof, type Identity } from '../../shared/identity.js';
import { RPC_ANY, encode, topics, type StatusMessage } from '../../shared/protocol.js';
import {
  cli,
  cliJson,
  readLog,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
  type NodeJson,
  type ServiceJson,
  type TaskJson,
} from '../helpers/cluster.js';
import { connectRaw, managerCaFile, requireMosquitto } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const TEST = { timeout: 60_000 };

interface ProcResult {
  code: number | null;
  stderr: string;
}

/** Runs mosquitto_sub; null when the binary is not installed. */
function mosquittoSub(args: string[]): Promise<ProcResult | null> {
  return new Promise((resolve) => {
    execFile('mosquitto_sub', args, { timeout: 15_000 }, (err, _stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(null);
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stderr });
    });
  });
}

async function readIdentity(file: string): Promise<Identity> {
  return identitySchema.parse(JSON.parse(await fs.readFile(file, 'utf8')));
}

/** Connects over MQTT 3.1.1 with an identity's credentials, as its agent or the CLI would. */
function connectAs(
  m: ManagerProc,
  identity: Identity,
  clientId = identity.id,
): Promise<MqttClient> {
  return connectRaw(m, {
    clientId,
    username: identity.id,
    password: makeConnectProof(identity, clientId),
  });
}

/** The granted QoS of a one-topic subscription: 128 when the broker refused it. */
async function subscribeGranted(client: MqttClient, topic: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(topic, { qos: 1 });
    return granted[0]?.qos ?? -1;
  } catch (e) {
    if (!(e instanceof ErrorWithSubackPacket)) throw e;
    const first = e.packet.granted[0];
    return typeof first === 'number' ? first : -1;
  }
}

/** Records every message and whether the broker has closed the connection. */
function observe(client: MqttClient): { messages: Map<string, Buffer[]>; closed: () => boolean } {
  const messages = new Map<string, Buffer[]>();
  let closed = false;
  client.on('message', (topic, payload) =>
    messages.set(topic, [...(messages.get(topic) ?? []), payload]),
  );
  client.on('close', () => (closed = true));
  client.on('error', () => undefined);
  return { messages, closed: () => closed };
}

function exitCode(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

const countOf = (text: string, needle: string): number => text.split(needle).length - 1;

describe('security of a running fleet', () => {
  let m: ManagerProc;
  let a: AgentProc;
  let b: AgentProc;
  const extraAgents: AgentProc[] = [];
  const dirs: string[] = [];

  const agent = (name: string, address: string, token = m.workerToken): AgentProc => {
    const p = startAgent({
      manager: m.address,
      token,
      name,
      address,
      runtime: 'process',
      extraArgs: ['--remove-tasks-on-stop'],
    });
    dirs.push(p.dataDir, p.log);
    return p;
  };

  const nodeStatus = async (name: string): Promise<string | undefined> =>
    (await cliJson<NodeJson[]>(m, ['node', 'ls'])).find((n) => n.name === name)?.status;

  /** Runs `fn` with B's agent paused, so a test client using B's id does not race its reconnects. */
  const withNodeBPaused = async (fn: () => Promise<void>): Promise<void> => {
    b.proc.kill('SIGSTOP');
    try {
      await fn();
    } finally {
      b.proc.kill('SIGCONT');
    }
    await waitFor(async () => (await nodeStatus('B')) === 'ready', {
      what: 'node B ready again',
      timeoutMs: 15_000,
    });
  };

  before(async () => {
    m = await startManager();
    dirs.push(m.dataDir, m.log);
    a = agent('A', '127.0.0.2');
    b = agent('B', '127.0.0.3');
    await waitForNodes(m, 2);
    const r = await cli(m, [
      'service',
      'create',
      '--name',
      'pinned',
      '--constraint',
      'node.hostname==A',
      '--timeout',
      '30s',
      'unused-image',
      'sleep',
      '3600',
    ]);
    assert.equal(r.code, 0, `service create failed: ${r.stderr}`);
  });

  after(async () => {
    await Promise.all([a, b, ...extraAgents].filter(Boolean).map((p) => stopProc(p.proc)));
    if (m) await stopProc(m.proc);
    await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
  });

  test('an anonymous MQTT client is refused', TEST, async (t) => {
    const [host, port = ''] = m.address.split(':');
    const tls = ['--cafile', await managerCaFile(m)];
    const r = await mosquittoSub([
      '-h',
      host ?? '',
      '-p',
      port,
      ...tls,
      '-t',
      '#',
      '-C',
      '1',
      '-W',
      '3',
    ]);
    if (!requireMosquitto(t, r)) return;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refused|not authori[sz]ed/i);
  });

  test('an MQTT client with a made-up username and password is refused', TEST, async (t) => {
    const [host, port = ''] = m.address.split(':');
    const args = [
      '-h',
      host ?? '',
      '-p',
      port,
      '--cafile',
      await managerCaFile(m),
      '-t',
      '#',
      '-C',
      '1',
      '-W',
      '3',
      '-u',
      'mallory',
      '-P',
      'letmein',
    ];
    const r = await mosquittoSub(args);
    if (!requireMosquitto(t, r)) return;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refused|not authori[sz]ed|bad user name or password/i);
  });

  test(
    "node B cannot read node A's assignments, retained or not, but receives its own",
    TEST,
    async () => {
      const ids = {
        a: await readIdentity(path.join(a.dataDir, 'identity.json')),
        b: await readIdentity(path.join(b.dataDir, 'identity.json')),
      };
      await withNodeBPaused(async () => {
        const client = await connectAs(m, ids.b);
        const seen = observe(client);
        try {
          assert.equal(
            await subscribeGranted(client, topics.assignments(ids.a.id)),
            128,
            "subscription to A's assignments",
          );
          assert.equal(
            await subscribeGranted(client, 'fleet/v1/nodes/+/assignments'),
            128,
            'wildcard subscription',
          );
          assert.equal(
            await subscribeGranted(client, topics.assignments(ids.b.id)),
            1,
            'subscription to its own assignments',
          );
          // The broker answers subscriptions in order: once B's retained assignment is in, A's would have been too.
          await waitFor(() => seen.messages.get(topics.assignments(ids.b.id))?.length, {
            what: "B's retained assignment",
          });
          assert.deepEqual([...seen.messages.keys()], [topics.assignments(ids.b.id)]);
        } finally {
          await client.endAsync(true);
        }
      });
    },
  );

  test(
    "node B is disconnected for publishing on node A's status topic, and A's tasks do not change",
    TEST,
    async () => {
      const ids = {
        a: await readIdentity(path.join(a.dataDir, 'identity.json')),
        b: await readIdentity(path.join(b.dataDir, 'identity.json')),
      };
      const before = await cliJson<TaskJson[]>(m, ['service', 'ps', 'pinned']);
      const running = before.find((t) => t.state === 'running' && t.node === ids.a.id);
      assert.ok(running, 'the pinned service runs on A');
      const forged: StatusMessage = {
        v: 1,
        ts: Date.now(),
        assignmentVersion: 0,
        tasks: [
          {
            taskId: running.id,
            state: 'failed',
            message: 'failed',
            error: 'forged by node B',
            exitCode: 1,
            health: 'none',
            hostPorts: [],
            runtimeId: null,
            restarts: 0,
            at: Date.now(),
          },
        ],
      };
      await withNodeBPaused(async () => {
        const client = await connectAs(m, ids.b);
        const seen = observe(client);
        try {
          client.publish(topics.status(ids.a.id), encode(forged), { qos: 1 });
          await waitFor(() => seen.closed(), { what: 'the broker to disconnect B' });
        } finally {
          await client.endAsync(true);
        }
      });
      assert.match(await readLog(m.log), /publish refused.*\/status/);
      const afterward = await cliJson<TaskJson[]>(m, ['service', 'ps', 'pinned']);
      // Usage figures are fresh samples each period; what B could have forged is the rest.
      const settled = (list: TaskJson[]): TaskJson[] =>
        list.map(
          (x) => Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'usage')) as TaskJson,
        );
      assert.deepEqual(settled(afterward), settled(before));
    },
  );

  test(
    'a node identity cannot use the API: the CLI is refused and a raw RPC publish disconnects it',
    TEST,
    async () => {
      const bIdentityFile = path.join(b.dataDir, 'identity.json');
      const ids = { b: await readIdentity(bIdentityFile) };
      const viaCli = await cli({ address: m.address, identity: bIdentityFile }, [
        'service',
        'create',
        '--name',
        'via-cli',
        '--detach',
        'img',
        'sleep',
        '1',
      ]);
      assert.equal(viaCli.code, 1);
      assert.match(viaCli.stderr, /not authorized/);
      assert.doesNotMatch(viaCli.stderr, /\n\s+at /, 'no stack trace');

      await withNodeBPaused(async () => {
        const client = await connectAs(m, ids.b);
        const seen = observe(client);
        try {
          assert.equal(
            await subscribeGranted(client, topics.rpcReply(ids.b.id)),
            128,
            'subscription to RPC replies',
          );
          const request = {
            v: 1,
            id: 'forged-1',
            method: 'service.create',
            params: { spec: { name: 'via-mqtt', task: { image: 'img' } } },
          };
          client.publish(topics.rpc(RPC_ANY), encode(request), { qos: 1 });
          await waitFor(() => seen.closed(), { what: 'the broker to disconnect B' });
        } finally {
          await client.endAsync(true);
        }
      });
      assert.match(await readLog(m.log), /publish refused.*\/rpc\//);
      const names = (await cliJson<ServiceJson[]>(m, ['service', 'ls'])).map((s) => s.name);
      assert.deepEqual(names, ['pinned']);
    },
  );

  test(
    'an agent with a well-formed token holding the wrong secret exits non-zero and says the token is invalid',
    TEST,
    async () => {
      const wrong = m.workerToken.replace(/-[0-9a-f]{36}$/, `-${'0'.repeat(36)}`);
      assert.notEqual(wrong, m.workerToken);
      const c = agent('C', '127.0.0.4', wrong);
      assert.notEqual(await exitCode(c.proc), 0);
      assert.match(await readLog(c.log), /invalid or rotated join token/);
      await assert.rejects(
        fs.access(path.join(c.dataDir, 'identity.json')),
        'no identity is saved',
      );
    },
  );

  test(
    'after rotating the worker token the old one cannot join, the new one can, and joined nodes are not disturbed',
    TEST,
    async () => {
      const lostBefore = [
        countOf(await readLog(a.log), 'lost the manager connection'),
        countOf(await readLog(b.log), 'lost the manager connection'),
      ];
      const rotated = await cli(m, ['join-token', 'worker', '--rotate', '--quiet']);
      assert.equal(rotated.code, 0, rotated.stderr);
      const newToken = rotated.stdout.trim();
      assert.match(newToken, /^FLEET-1-[0-9a-f]{32}-[0-9a-f]{36}$/);
      assert.notEqual(newToken, m.workerToken);

      const old = agent('D', '127.0.0.5', m.workerToken);
      assert.notEqual(await exitCode(old.proc), 0);
      assert.match(await readLog(old.log), /invalid or rotated join token/);

      const fresh = agent('E', '127.0.0.6', newToken);
      extraAgents.push(fresh);
      await waitFor(async () => (await nodeStatus('E')) === 'ready', {
        what: 'node E ready',
        timeoutMs: 20_000,
      });

      const nodes = await cliJson<NodeJson[]>(m, ['node', 'ls']);
      assert.deepEqual(
        nodes.filter((n) => n.name === 'A' || n.name === 'B').map((n) => [n.name, n.status]),
        [
          ['A', 'ready'],
          ['B', 'ready'],
        ],
      );
      const lostAfter = [
        countOf(await readLog(a.log), 'lost the manager connection'),
        countOf(await readLog(b.log), 'lost the manager connection'),
      ];
      assert.deepEqual(lostAfter, lostBefore, 'A and B kept their connections');
      assert.equal(
        (await cliJson<TaskJson[]>(m, ['service', 'ps', 'pinned']))[0]?.state,
        'running',
      );
    },
  );
});
