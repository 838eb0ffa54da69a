// Flood: one joined node floods 10,000 messages a second while 200 simulated agents heartbeat; nobody is marked down and the flooder is cut off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import type { Identity } from '../../shared/identity.js';
import { RPC_ANY, decode, encode, rpcResponseSchema, topics } from '../../shared/protocol.js';
import {
  cli,
  cliJson,
  readLog,
  startManager,
  stopProc,
  tempDir,
  type ManagerProc,
  type NodeJson,
} from '../helpers/cluster.js';
import {
  connectAdmin,
  heartbeatAll,
  joinNodes,
  readIdentity,
  type Heartbeater,
} from '../helpers/sim-agents.js';
import type { FloodResult } from '../helpers/flooder.js';
import { waitFor } from '../helpers/wait.js';

const AGENTS = 200;
const HEARTBEAT_MS = 2_000; // the cluster default
const FLOOD_RATE = 10_000;
const FLOOD_SECONDS = 5;
const FLOODER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../helpers/flooder.js');

/** Measures manager round trips with cluster.info every `everyMs`, from an admin connection. */
async function startProbe(
  m: ManagerProc,
  admin: Identity,
  everyMs: number,
): Promise<{ maxMs: () => number; answered: () => number; stop: () => Promise<void> }> {
  const suffix = 'flood-probe';
  const client: MqttClient = await connectAdmin(m.address, admin, suffix);
  client.on('error', () => undefined);
  const pending = new Map<string, number>();
  let max = 0;
  let answered = 0;
  client.on('message', (_t, payload) => {
    const d = decode(rpcResponseSchema, payload);
    const sentAt = d.ok ? pending.get(d.value.id) : undefined;
    if (!d.ok || sentAt === undefined) return;
    pending.delete(d.value.id);
    answered++;
    max = Math.max(max, Date.now() - sentAt);
  });
  await client.subscribeAsync(topics.rpcReply(`${admin.id}.${suffix}`), { qos: 1 });
  let n = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    // An unanswered request counts with its age so far.
    for (const at of pending.values()) max = Math.max(max, now - at);
    const id = `p${n++}`;
    pending.set(id, now);
    client.publish(topics.rpc(RPC_ANY), encode({ v: 1, id, method: 'cluster.info', params: {} }), {
      qos: 1,
    });
  }, everyMs);
  return {
    maxMs: () => max,
    answered: () => answered,
    stop: async () => {
      clearInterval(timer);
      await client.endAsync(true).catch(() => undefined);
    },
  };
}

function runFlooder(m: ManagerProc, identityFile: string): Promise<FloodResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [FLOODER, m.address, identityFile, String(FLOOD_RATE), String(FLOOD_SECONDS)],
      { timeout: (FLOOD_SECONDS + 20) * 1000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`flooder: ${err.message} ${stderr}`));
        try {
          resolve(JSON.parse(stdout.trim()) as FloodResult);
        } catch (e) {
          reject(new Error(`flooder output ${JSON.stringify(stdout)}: ${String(e)}`));
        }
      },
    );
  });
}

describe('a flood from one client while 200 agents heartbeat', () => {
  let m: ManagerProc;
  let agents: Identity[] = [];
  let flooder: Identity;
  let beats: Heartbeater | undefined;
  const dir = tempDir('flood');

  before(async () => {
    m = await startManager();
    const joined = await joinNodes(m.address, m.workerToken, AGENTS + 1, 'sim');
    flooder = joined[AGENTS] as Identity;
    agents = joined.slice(0, AGENTS);
  });

  after(async () => {
    await beats?.stop();
    if (m) await stopProc(m.proc);
    await Promise.all(
      [dir, m?.dataDir, m?.log].flatMap((d) =>
        d ? [fs.rm(d, { recursive: true, force: true })] : [],
      ),
    );
  });

  test(
    'no agent is marked down, the flooder is disconnected, the manager keeps answering',
    { timeout: 120_000 },
    async () => {
      beats = await heartbeatAll(m.address, agents, HEARTBEAT_MS);
      const ids = new Set(agents.map((a) => a.id));
      await waitFor(
        async () =>
          (await cliJson<NodeJson[]>(m, ['node', 'ls'])).filter(
            (n) => ids.has(n.id) && n.status === 'ready',
          ).length === AGENTS,
        { what: `${AGENTS} simulated agents ready`, timeoutMs: 30_000, intervalMs: 500 },
      );
      // Nodes that joined but had not beaten yet were marked down while the others joined: only
      // what the log says from here on counts.
      const logFrom = (await readLog(m.log)).length;
      const b0 = Date.now();
      const baseline = await cli(m, ['node', 'ls']);
      const baselineLsMs = Date.now() - b0;
      assert.equal(baseline.code, 0, baseline.stderr);

      // Watch node statuses through the flood and two heartbeat periods past the down threshold.
      const notReady = new Set<string>();
      let polls = 0;
      let slowestLs = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const t0 = Date.now();
          const nodes = await cliJson<NodeJson[]>(m, ['node', 'ls']);
          slowestLs = Math.max(slowestLs, Date.now() - t0);
          polls++;
          for (const n of nodes) if (ids.has(n.id) && n.status !== 'ready') notReady.add(n.name);
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      const admin = await readIdentity(m.identity);
      const probe = await startProbe(m, admin, 100);

      const identityFile = path.join(dir, 'flooder-identity.json');
      await fs.writeFile(identityFile, JSON.stringify(flooder));
      const flood = await runFlooder(m, identityFile);

      await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 4));
      watching = false;
      await watcher;
      await probe.stop();

      const log = (await readLog(m.log)).slice(logFrom);
      const rate = Math.round((flood.sent * 1000) / flood.elapsedMs);
      // The first connection is the one flooding at the steady rate; later ones start with a backlog.
      const cutOffAfter = flood.closedAfterMs[0] ?? -1;
      const t0 = Date.now();
      const ls = await cli(m, ['node', 'ls']);
      const lsMs = Date.now() - t0;
      const lines = log.match(/disconnecting \S+: flooding, \d+ messages in 1s/g) ?? [];
      console.log(
        `# flood: ${flood.sent} messages in ${flood.elapsedMs} ms (${rate}/s) over ${flood.connections} connections; ` +
          `first cut off after ${cutOffAfter} ms; ${lines.length} disconnect lines; ` +
          `max heartbeat send gap ${beats.maxGapMs()} ms; slowest rpc round trip ${probe.maxMs()} ms ` +
          `(${probe.answered()} answered); node ls ${baselineLsMs} ms before, slowest ${slowestLs} ms ` +
          `over ${polls} polls during, ${lsMs} ms after`,
      );

      assert.ok(rate >= FLOOD_RATE * 0.8, `flood rate ${rate}/s`);
      assert.deepEqual([...notReady], [], 'every simulated agent stayed ready throughout');
      for (const a of agents)
        assert.doesNotMatch(log, new RegExp(`node down nodeId="${a.id}"`), `${a.id} marked down`);
      assert.ok(flood.closedAfterMs.length > 0, 'the broker closed the flooding connection');
      assert.match(log, new RegExp(`disconnecting ${flooder.id}: flooding, \\d+ messages in 1s`));
      assert.ok(cutOffAfter >= 0 && cutOffAfter < 2_000, `flooder cut off after ${cutOffAfter} ms`);
      assert.ok(
        beats.maxGapMs() < HEARTBEAT_MS * 2,
        `heartbeats went out on time: ${beats.maxGapMs()} ms`,
      );
      assert.ok(probe.maxMs() < HEARTBEAT_MS, `manager round trip ${probe.maxMs()} ms`);
      assert.equal(ls.code, 0, ls.stderr);
      assert.ok(lsMs < 5_000, `node ls took ${lsMs} ms`);
      assert.equal(m.proc.exitCode, null, 'the manager is alive');
    },
  );
});
