// Garbage in: malformed, mistyped, deep and oversized messages on every topic the manager reads, bad CLI flags and a missing image are refused with a reason and break nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import {
  identitySchema,
  makeConnectProof,
  randomId,
  type Identity,
} from '../../shared/identity.js';
import {
  MAX_PAYLOAD_BYTES,
  RPC_ANY,
  decode,
  rpcResponseSchema,
  topics,
  type RpcResponse,
} from '../../shared/protocol.js';
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
import { PAYLOAD_CAPS } from '../../manager/broker/flood.js';
import { cleanupContainers, requireDocker } from '../helpers/docker.js';
import { connectRaw } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const TEST = { timeout: 60_000 };
const OVERSIZED_BYTES = 1024 * 1024;

interface Garbage {
  label: string;
  payload: Buffer;
}

/** Bad payloads of every kind, built around a valid message so "wrong version" differs only in v. */
function garbage(valid: Record<string, unknown>): Garbage[] {
  const padding = 'x'.repeat(OVERSIZED_BYTES);
  return [
    { label: 'malformed JSON', payload: Buffer.from('{"v":1,') },
    { label: 'not UTF-8', payload: Buffer.from([0xff, 0xfe, 0xfd, 0x00]) },
    { label: 'JSON of the wrong schema', payload: Buffer.from('{"hello":["world"]}') },
    { label: 'wrong version', payload: Buffer.from(JSON.stringify({ ...valid, v: 2 })) },
    {
      label: 'deeply nested arrays',
      payload: Buffer.from('['.repeat(100_000) + ']'.repeat(100_000)),
    },
    {
      label: 'deeply nested objects',
      payload: Buffer.from('{"v":'.repeat(40_000) + '1' + '}'.repeat(40_000)),
    },
    { label: 'oversized', payload: Buffer.from(JSON.stringify({ ...valid, padding })) },
  ];
}

async function readIdentity(file: string): Promise<Identity> {
  return identitySchema.parse(JSON.parse(await fs.readFile(file, 'utf8')));
}

function connect(
  m: ManagerProc,
  clientId: string,
  username: string,
  password: string,
): Promise<MqttClient> {
  return connectRaw(m, { clientId, username, password });
}

const connectAs = (
  m: ManagerProc,
  identity: Identity,
  clientId = identity.id,
): Promise<MqttClient> => connect(m, clientId, identity.id, makeConnectProof(identity, clientId));

/** Publishes at QoS 1 and resolves on the broker's acknowledgement; rejects if the broker hangs up. */
function publishAcked(client: MqttClient, topic: string, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = (): void =>
      reject(new Error(`the broker closed the connection after a publish on ${topic}`));
    client.once('close', onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      client.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}

/** Collects decoded RPC replies by request id. */
function collectReplies(client: MqttClient): Map<string, RpcResponse> {
  const replies = new Map<string, RpcResponse>();
  client.on('message', (_topic, payload) => {
    const d = decode(rpcResponseSchema, payload);
    if (d.ok) replies.set(d.value.id, d.value);
  });
  return replies;
}

const noStackTrace = /\n\s+at \S/;

describe('bad input against a running manager', () => {
  let m: ManagerProc;
  let a: AgentProc;
  let nodeA: Identity;
  const dirs: string[] = [];

  /** Alive, answering, and node A ready and never marked down. */
  const assertManagerHealthy = async (): Promise<void> => {
    assert.equal(m.proc.exitCode, null, 'the manager process is alive');
    assert.equal(m.proc.signalCode, null, 'the manager process is alive');
    await waitFor(
      async () =>
        (await cliJson<NodeJson[]>(m, ['node', 'ls'])).find((n) => n.id === nodeA.id)?.status ===
        'ready',
      { what: 'node A ready in node ls', timeoutMs: 15_000 },
    );
    assert.doesNotMatch(await readLog(m.log), new RegExp(`node down nodeId="${nodeA.id}"`));
  };

  before(async () => {
    m = await startManager();
    dirs.push(m.dataDir, m.log);
    a = startAgent({
      manager: m.address,
      token: m.workerToken,
      name: 'A',
      address: '127.0.0.2',
      runtime: 'process',
      extraArgs: ['--remove-tasks-on-stop'],
    });
    dirs.push(a.dataDir, a.log);
    await waitForNodes(m, 1);
    nodeA = await readIdentity(path.join(a.dataDir, 'identity.json'));
  });

  after(async () => {
    if (a) await stopProc(a.proc);
    if (m) await stopProc(m.proc);
    await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
  });

  test(
    'garbage from a node on its heartbeat, status and will topics is dropped with a logged reason; the node stays ready and usable',
    TEST,
    async () => {
      const now = Date.now();
      const perTopic = [
        { topic: topics.heartbeat(nodeA.id), valid: { v: 1, seq: 1, ts: now } },
        {
          topic: topics.status(nodeA.id),
          valid: { v: 1, ts: now, assignmentVersion: 0, tasks: [] },
        },
        { topic: topics.will(nodeA.id), valid: {} },
      ];
      // The agent is paused so that this client, which must use A's own id, does not race its reconnects.
      a.proc.kill('SIGSTOP');
      try {
        const client = await connectAs(m, nodeA);
        client.on('error', () => undefined);
        try {
          for (const { topic, valid } of perTopic) {
            for (const g of garbage(valid)) {
              await publishAcked(client, topic, g.payload).catch((e: unknown) => {
                throw new Error(`${g.label} on ${topic}: ${String(e)}`);
              });
            }
          }
        } finally {
          await client.endAsync(true);
        }
      } finally {
        a.proc.kill('SIGCONT');
      }

      const log = await waitFor(
        async () => {
          const text = await readLog(m.log);
          return /payload too large .*\/status"/.test(text) ? text : null;
        },
        { what: 'the dropped status messages in the manager log' },
      );
      for (const kind of ['heartbeat', 'status']) {
        assert.match(
          log,
          new RegExp(`dropped ${kind} nodeId="${nodeA.id}" reason="payload is not valid JSON"`),
        );
        assert.match(
          log,
          new RegExp(`dropped ${kind} nodeId="${nodeA.id}" reason="schema mismatch: v: `),
        );
        // Oversized payloads are dropped by the broker's per-topic cap before any handler runs.
        const cap = kind === 'heartbeat' ? PAYLOAD_CAPS.hb : PAYLOAD_CAPS.status;
        const topic = kind === 'heartbeat' ? topics.heartbeat(nodeA.id) : topics.status(nodeA.id);
        assert.match(
          log,
          new RegExp(
            `payload too large clientId="${nodeA.id}" topic="${topic}" bytes=\\d+ cap=${cap}`,
          ),
        );
      }
      await assertManagerHealthy();
      const created = await cli(m, [
        'service',
        'create',
        '--name',
        'after-node-garbage',
        '--timeout',
        '30s',
        'unused-image',
        'sleep',
        '3600',
      ]);
      assert.equal(created.code, 0, `service create: ${created.stderr}`);
      const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'after-node-garbage']);
      assert.deepEqual(
        tasks.map((t) => [t.node, t.state]),
        [[nodeA.id, 'running']],
      );
      assert.equal((await cli(m, ['service', 'rm', 'after-node-garbage'])).code, 0);
    },
  );

  test(
    'garbage RPC requests from an admin are dropped with a logged reason, and the requests after them are answered',
    TEST,
    async () => {
      const admin = await readIdentity(m.identity);
      const valid = { v: 1, id: 'garbage', method: 'node.ls', params: {} };
      // The manager logs one bad request per client every few seconds, so each kind gets its own client.
      for (const [i, g] of garbage(valid).entries()) {
        const client = await connectAs(m, admin, `${admin.id}.garbage-${i}`);
        client.on('error', () => undefined);
        try {
          await publishAcked(client, topics.rpc(RPC_ANY), g.payload);
        } finally {
          await client.endAsync(true);
        }
      }

      const clientId = `${admin.id}.after-garbage`;
      const client = await connectAs(m, admin, clientId);
      client.on('error', () => undefined);
      try {
        const replies = collectReplies(client);
        await client.subscribeAsync(topics.rpcReply(clientId), { qos: 1 });
        const deepParams = '{"a":'.repeat(40_000) + '1' + '}'.repeat(40_000);
        const deep = `{"v":1,"id":"deep-params","method":"service.create","params":${deepParams}}`;
        await publishAcked(client, topics.rpc(RPC_ANY), Buffer.from(deep));
        await publishAcked(
          client,
          topics.rpc(RPC_ANY),
          Buffer.from(JSON.stringify({ ...valid, id: 'after' })),
        );
        await waitFor(() => replies.has('deep-params') && replies.has('after'), {
          what: 'both replies',
        });
        const deepReply = replies.get('deep-params');
        assert.equal(
          deepReply && !deepReply.ok ? deepReply.error.code : deepReply,
          'invalid_argument',
        );
        assert.equal(replies.get('after')?.ok, true);
      } finally {
        await client.endAsync(true);
      }

      const log = await readLog(m.log);
      assert.match(
        log,
        /dropped request clientId="[^"]+\.garbage-0" reason="payload is not valid JSON"/,
      );
      assert.match(log, /dropped request clientId="[^"]+\.garbage-2" reason="schema mismatch: /);
      assert.match(log, /dropped request clientId="[^"]+\.garbage-3" reason="schema mismatch: v: /);
      assert.match(
        log,
        new RegExp(
          `payload too large clientId="[^"]+\\.garbage-6" topic="[^"]+" bytes=\\d+ cap=${MAX_PAYLOAD_BYTES}`,
        ),
      );
      await assertManagerHealthy();
    },
  );

  test('garbage join requests get a refusal reply and a logged reason', TEST, async () => {
    const clientId = `join-garbage-${randomId()}`;
    const client = await connect(m, clientId, 'join', m.workerToken);
    client.on('error', () => undefined);
    const replies: string[] = [];
    client.on('message', (_topic, payload) => replies.push(payload.toString('utf8')));
    const kinds = garbage({
      v: 1,
      token: m.workerToken,
      name: 'x',
      signPub: '',
      boxPub: '',
      address: '127.0.0.9',
      platform: { os: 'linux', arch: 'arm64' },
      sig: '',
    });
    try {
      await client.subscribeAsync(topics.joinReply(clientId), { qos: 1 });
      for (const g of kinds) await publishAcked(client, topics.join(clientId), g.payload);
      // Requests over the broker's cap for join topics are dropped before the handler: no reply.
      const answered = kinds.filter((g) => g.payload.length <= PAYLOAD_CAPS.join).length;
      await waitFor(() => replies.length >= answered, { what: `${answered} join replies` });
    } finally {
      await client.endAsync(true);
    }
    for (const r of replies) {
      assert.match(r, /^\{"v":1,"ok":false,"error":"bad join request: [^"]+"\}$/);
    }
    const log = await readLog(m.log);
    assert.match(
      log,
      /dropped join request clientId="join-garbage-[^"]+" reason="payload is not valid JSON"/,
    );
    assert.match(
      log,
      new RegExp(
        `payload too large clientId="join-garbage-[^"]+" topic="[^"]+" bytes=\\d+ cap=${PAYLOAD_CAPS.join}`,
      ),
    );
    const nodes = (await cliJson<NodeJson[]>(m, ['node', 'ls'])).filter((n) => !n.manager);
    assert.deepEqual(
      nodes.map((n) => n.name),
      ['A'],
      'no node joined',
    );
    await assertManagerHealthy();
  });

  const usageCases: { flags: string[]; names: RegExp }[] = [
    { flags: ['--replicas', 'abc'], names: /--replicas.*"abc"/ },
    { flags: ['--publish', 'nonsense'], names: /--publish.*"nonsense"/ },
    { flags: ['--constraint', 'foo'], names: /--constraint.*"foo"/ },
    { flags: ['--bogus'], names: /bogus/ },
  ];
  for (const { flags, names } of usageCases) {
    test(
      `service create with ${flags.join(' ')} is a usage error naming the problem`,
      TEST,
      async () => {
        const r = await cli(m, ['service', 'create', '--name', 'web', ...flags, 'img']);
        assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
        assert.doesNotMatch(r.stderr, noStackTrace);
        const [message = '', ...rest] = r.stderr.trimEnd().split('\n');
        assert.match(message, names);
        assert.deepEqual(rest, ["See 'fleet service create --help'."]);
        assert.equal(r.stdout, '');
        const services = await cliJson<ServiceJson[]>(m, ['service', 'ls']);
        assert.ok(!services.some((s) => s.name === 'web'), 'no service was created');
      },
    );
  }

  test(
    'a service whose image does not exist gets a rejected task with an error naming the image (Docker)',
    TEST,
    async (t) => {
      if (!(await requireDocker(t))) return;
      const image = '127.0.0.1:9/fleet-test/does-not-exist:1';
      const docker = startAgent({
        manager: m.address,
        token: m.workerToken,
        name: 'dock',
        address: '127.0.0.7',
        runtime: 'docker',
        extraArgs: ['--remove-tasks-on-stop'],
      });
      dirs.push(docker.dataDir, docker.log);
      t.after(async () => {
        await cli(m, ['service', 'rm', 'ghost']);
        await stopProc(docker.proc);
        const id = await readIdentity(path.join(docker.dataDir, 'identity.json')).catch(() => null);
        if (id) await cleanupContainers(id.id);
      });
      await waitFor(
        async () =>
          (await cliJson<NodeJson[]>(m, ['node', 'ls'])).find((n) => n.name === 'dock')?.status ===
          'ready',
        { what: 'the docker node ready', timeoutMs: 30_000 },
      );
      const created = await cli(m, [
        'service',
        'create',
        '--name',
        'ghost',
        '--constraint',
        'node.hostname==dock',
        '--detach',
        image,
      ]);
      assert.equal(created.code, 0, created.stderr);
      const rejected = await waitFor(
        async () =>
          (await cliJson<TaskJson[]>(m, ['service', 'ps', 'ghost'])).find(
            (task) => task.state === 'rejected',
          ),
        { what: 'a rejected task', timeoutMs: 45_000, intervalMs: 250 },
      );
      assert.ok(rejected.error?.includes(image), `error names the image: ${rejected.error}`);
      assert.match(rejected.error ?? '', /not available|not found|pull/i);
    },
  );
});
