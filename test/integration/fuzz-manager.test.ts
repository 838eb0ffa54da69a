// Property-based garbage against a live manager: every topic a node, an admin and a joiner may publish on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import type { Identity } from '../../shared/identity.js';
import {
  RPC_ANY,
  decode,
  heartbeatSchema,
  joinRequestSchema,
  statusSchema,
  topics,
} from '../../shared/protocol.js';
import { PAYLOAD_CAPS } from '../../manager/broker/flood.js';
import {
  cli,
  cliJson,
  readLog,
  startManager,
  stopProc,
  type ManagerProc,
  type NodeJson,
  type ServiceJson,
} from '../helpers/cluster.js';
import { connectRaw } from '../helpers/mqtt.js';
import { payload } from '../helpers/payloads.js';
import { connectAdmin, connectNode, joinNodes, readIdentity } from '../helpers/sim-agents.js';
import { waitFor } from '../helpers/wait.js';

const PER_TOPIC = 100;
/** Below every per-client rate limit, so what the manager sees is garbage, not a flood. */
const PACE_MS = 10;
const SEED = Number(process.env.FLEET_FUZZ_SEED ?? 20261123);

const sizeOf = (p: string | Uint8Array): number =>
  typeof p === 'string' ? Buffer.byteLength(p) : p.byteLength;
const toBuffer = (p: string | Uint8Array): Buffer =>
  typeof p === 'string' ? Buffer.from(p) : Buffer.from(p);

/** Publishes each payload at QoS 1, paced; reconnects if the broker hangs up. Returns hang-ups. */
async function publishAll(
  connect: () => Promise<MqttClient>,
  topic: string,
  payloads: (string | Uint8Array)[],
): Promise<number> {
  let client = await connect();
  client.on('error', () => undefined);
  let hangUps = 0;
  for (const p of payloads) {
    if (!client.connected) {
      hangUps++;
      await client.endAsync(true).catch(() => undefined);
      client = await connect();
      client.on('error', () => undefined);
    }
    // QoS 0: the broker acknowledges nothing, so a dropped message cannot leave us waiting.
    const c = client;
    await new Promise<void>((resolve) =>
      c.publish(topic, toBuffer(p), { qos: 0 }, () => resolve()),
    );
    await new Promise((r) => setTimeout(r, PACE_MS));
  }
  // A QoS 1 round trip last: everything before it on this connection has been read by the broker.
  if (client.connected)
    await Promise.race([
      client.publishAsync(topic, Buffer.from('{}'), { qos: 1 }).catch(() => undefined),
      new Promise((r) => setTimeout(r, 5_000)),
    ]);
  await client.endAsync(true).catch(() => undefined);
  return hangUps;
}

const sample = (seed: number): (string | Uint8Array)[] =>
  fc.sample(payload, { numRuns: PER_TOPIC, seed });

describe('fast-check garbage against a live manager', () => {
  let m: ManagerProc;
  let node: Identity;
  let admin: Identity;

  before(async () => {
    m = await startManager();
    [node] = (await joinNodes(m.address, m.workerToken, 1, 'fuzz')) as [Identity];
    admin = await readIdentity(m.identity);
  });

  after(async () => {
    if (m) await stopProc(m.proc);
    if (m)
      await Promise.all([m.dataDir, m.log].map((d) => fs.rm(d, { force: true, recursive: true })));
  });

  test(
    'the manager survives, logs every reject with its reason, and still answers',
    { timeout: 120_000 },
    async () => {
      const t0 = Date.now();
      const hb = sample(SEED);
      const status = sample(SEED + 1);
      const will = sample(SEED + 2);
      const rpc = sample(SEED + 3);
      const join = sample(SEED + 4);
      const hangUps: Record<string, number> = {};

      hangUps.hb = await publishAll(
        () => connectNode(m.address, node),
        topics.heartbeat(node.id),
        hb,
      );
      hangUps.status = await publishAll(
        () => connectNode(m.address, node),
        topics.status(node.id),
        status,
      );
      hangUps.will = await publishAll(
        () => connectNode(m.address, node),
        topics.will(node.id),
        will,
      );
      hangUps.rpc = await publishAll(
        () => connectAdmin(m.address, admin, 'fuzz'),
        topics.rpc(RPC_ANY),
        rpc,
      );
      // A join connection is meant for one request: a fresh one for each few keeps it under its limit.
      hangUps.join = 0;
      let joinClients = 0;
      for (let i = 0; i < join.length; i += 20) {
        joinClients++;
        const clientId = `join-fuzz-${i}`;
        hangUps.join += await publishAll(
          () => connectRaw(m, { clientId, username: 'join', password: m.workerToken }),
          topics.join(clientId),
          join.slice(i, i + 20),
        );
      }
      const publishMs = Date.now() - t0;
      console.log(`# published in ${publishMs} ms`);

      assert.equal(m.proc.exitCode, null, 'the manager process is alive');
      assert.equal(m.proc.signalCode, null, 'the manager process is alive');

      // Every payload the manager must refuse, with the reason it must log (as the decoder words it).
      const expected: { line: string; what: string }[] = [];
      const expect = (
        kind: string,
        who: string,
        cap: number,
        schema: Parameters<typeof decode>[0] | null,
        payloads: (string | Uint8Array)[],
      ): void => {
        let oversized = 0;
        for (const p of payloads) {
          if (sizeOf(p) > cap) {
            oversized++;
            continue;
          }
          const d = schema ? decode(schema, p) : { ok: true as const };
          if (!d.ok)
            expected.push({
              line: `${kind} ${who} reason=${JSON.stringify(d.reason)}`,
              what: `${kind}: ${d.reason}`,
            });
        }
        if (oversized > 0)
          expected.push({ line: `payload too large clientId=`, what: `${kind} oversized` });
      };
      expect('dropped heartbeat', `nodeId="${node.id}"`, PAYLOAD_CAPS.hb, heartbeatSchema, hb);
      expect('dropped status', `nodeId="${node.id}"`, PAYLOAD_CAPS.status, statusSchema, status);
      expect('dropped will', '', PAYLOAD_CAPS.will, null, will);
      expect(
        'dropped join request',
        'clientId="join-fuzz-',
        PAYLOAD_CAPS.join,
        joinRequestSchema,
        join,
      );

      const log = await waitFor(
        async () => {
          const text = await readLog(m.log);
          return expected.every((e) => text.includes(e.line.split(' reason=')[0] ?? ''))
            ? text
            : null;
        },
        { what: 'the drop lines in the manager log', timeoutMs: 15_000 },
      );
      const missing = expected.filter((e) => {
        const [head = '', reason] = e.line.split(' reason=');
        if (reason === undefined) return !log.includes(head);
        // Heartbeat and status drops are logged once per node and reason every few seconds;
        // join drops every time; so each distinct reason must be there.
        return !log.split('\n').some((l) => l.includes(head) && l.includes(`reason=${reason}`));
      });
      assert.deepEqual(
        missing.map((e) => e.what),
        [],
        'every kind of reject is in the log with its reason',
      );
      const joinDrops = log.split('\n').filter((l) => l.includes('dropped join request')).length;
      // Each join connection ended with a "{}" round trip, itself a refused request.
      const joinRejects =
        expected.filter((e) => e.what.startsWith('dropped join request:')).length + joinClients;
      assert.equal(joinDrops, joinRejects, 'one log line per refused join request');
      assert.match(log, /dropped request clientId="[^"]+\.fuzz" reason="/, 'rpc drops are logged');
      assert.doesNotMatch(log, /message handler failed|uncaught|FATAL/i);
      // Oversized payloads stop at the broker's cap: no handler ever gets to decode one.
      assert.doesNotMatch(log, /dropped (heartbeat|status|request|join request) .*exceeds the/);

      const ls = await cliJson<NodeJson[]>(m, ['node', 'ls']);
      assert.ok(
        ls.some((n) => n.id === node.id),
        'node ls lists the fuzzing node',
      );
      const created = await cli(m, [
        'service',
        'create',
        '--name',
        'after-fuzz',
        '--detach',
        'img',
        'sleep',
        '1',
      ]);
      assert.equal(created.code, 0, created.stderr);
      const services = await cliJson<ServiceJson[]>(m, ['service', 'ls']);
      assert.ok(
        services.some((s) => s.name === 'after-fuzz'),
        'service created',
      );
      assert.equal(m.proc.exitCode, null, 'the manager process is alive');
      console.log(
        `# fuzz: ${5 * PER_TOPIC} payloads (seed ${SEED}) in ${publishMs} ms; ` +
          `${expected.length} expected rejects, every reason found in the log; ${joinDrops} join drop lines; ` +
          `broker hang-ups ${JSON.stringify(hangUps)}`,
      );
    },
  );
});
