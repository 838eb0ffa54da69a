// Encrypted transport and certificate lifecycle against real managers: TLS by default, pinning, replay, renewal.
import { killTasksOf } from '../helpers/processes.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { identitySchema, makeConnectProof, type Identity } from '../../shared/identity.js';
import {
  cli,
  cliOk,
  readLog,
  runningTasks,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { connectRaw, managerCaFile, requireMosquitto } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const TEST = { timeout: 90_000 };

async function readIdentity(file: string): Promise<Identity> {
  return identitySchema.parse(JSON.parse(await fs.readFile(file, 'utf8')));
}

interface SubResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs mosquitto_sub for a few seconds at most; null when it is not installed. */
function mosquittoSub(args: string[]): Promise<SubResult | null> {
  return new Promise((resolve) => {
    execFile('mosquitto_sub', args, { timeout: 6_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(null);
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Tries a plain-TCP MQTT connection with valid credentials; resolves with how it ended. */
function plainConnect(address: string, identity: Identity): Promise<'connected' | 'failed'> {
  const clientId = `${identity.id}.plain`;
  return mqtt
    .connectAsync(
      `mqtt://${address}`,
      {
        protocolVersion: 4,
        clientId,
        username: identity.id,
        password: makeConnectProof(identity, clientId),
        reconnectPeriod: 0,
        connectTimeout: 3_000,
      },
      false,
    )
    .then(
      async (c) => {
        const ok = c.connected;
        await c.endAsync(true);
        return ok ? 'connected' : 'failed';
      },
      () => 'failed',
    );
}

function exitCode(p: AgentProc): Promise<number | null> {
  if (p.proc.exitCode !== null) return Promise.resolve(p.proc.exitCode);
  return new Promise((resolve) => p.proc.once('exit', (code) => resolve(code)));
}

describe('TLS transport and pinning', () => {
  let a: ManagerProc;
  let b: ManagerProc;
  let admin: Identity;
  const agents: AgentProc[] = [];

  before(async () => {
    [a, b] = await Promise.all([startManager(), startManager()]);
    admin = await readIdentity(a.identity);
  });

  after(async () => {
    await Promise.all(agents.map((p) => stopProc(p.proc)));
    await Promise.all([a, b].filter(Boolean).map((m) => stopProc(m.proc)));
  });

  test('a TLS manager refuses plain TCP, even with valid credentials', TEST, async () => {
    assert.equal(await plainConnect(a.address, admin), 'failed');
    // The same credentials over TLS work: it was the transport that was refused.
    const c = await connectRaw(a, {
      clientId: `${admin.id}.tls`,
      username: admin.id,
      password: makeConnectProof(admin, `${admin.id}.tls`),
    });
    assert.equal(c.connected, true);
    await c.endAsync(true);
    await cliOk(a, ['node', 'ls']);
  });

  test('a connect proof opens one connection: a replay is refused', TEST, async () => {
    const clientId = `${admin.id}.replay`;
    const password = makeConnectProof(admin, clientId);
    const first = await connectRaw(a, { clientId, username: admin.id, password });
    await first.endAsync(true);
    await assert.rejects(
      connectRaw(a, { clientId, username: admin.id, password }),
      /not authori[sz]ed|bad user/i,
    );
    await waitFor(async () => /replayed credentials/.test(await readLog(a.log)), {
      what: 'the manager to log the replay',
      timeoutMs: 5_000,
    });
  });

  test(
    "an agent with another cluster's token refuses the manager before sending it",
    TEST,
    async () => {
      const agent = startAgent({
        manager: a.address,
        token: b.workerToken,
        name: 'wrong-cluster',
        address: '127.0.0.9',
        runtime: 'process',
      });
      agents.push(agent);
      assert.notEqual(await exitCode(agent), 0);
      const log = await readLog(agent.log);
      assert.match(log, /refusing the manager at .*fingerprint mismatch/);
      // Manager A never saw the token: no join attempt reached its broker's authentication.
      assert.doesNotMatch(await readLog(a.log), /invalid join token/);
    },
  );

  test("the CLI with another cluster's identity refuses the manager", TEST, async () => {
    const r = await cli({ address: a.address, identity: b.identity }, ['node', 'ls']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refusing the manager at .*fingerprint mismatch/);
    const bAdmin = await readIdentity(b.identity);
    assert.doesNotMatch(await readLog(a.log), new RegExp(`connection refused.*${bAdmin.id}`));
  });

  test('mosquitto_sub sees nothing, with or without TLS', TEST, async (t) => {
    const [host = '', port = ''] = a.address.split(':');
    const caFile = await managerCaFile(a);
    const withTls = await mosquittoSub([
      '-h',
      host,
      '-p',
      port,
      '--cafile',
      caFile,
      '-t',
      '#',
      '-v',
      '-W',
      '3',
    ]);
    if (!requireMosquitto(t, withTls)) return;
    assert.notEqual(withTls.code, 0);
    assert.equal(withTls.stdout, '');
    assert.match(withTls.stderr, /refused|not authori[sz]ed/i);
    const plain = await mosquittoSub(['-h', host, '-p', port, '-t', '#', '-v', '-W', '3']);
    assert.ok(plain);
    assert.notEqual(plain.code, 0);
    assert.equal(plain.stdout, '');
  });
});

describe('an --insecure manager', () => {
  let m: ManagerProc;
  let agent: AgentProc;

  before(async () => {
    m = await startManager({ insecure: true });
  });

  after(async () => {
    if (agent) await stopProc(agent.proc);
    if (m) await stopProc(m.proc);
  });

  test('prints a warning and accepts plain TCP from clients told so', TEST, async () => {
    await waitFor(async () => /WARNING: --insecure/.test(await readLog(m.log)), {
      what: 'the insecure warning',
      timeoutMs: 5_000,
    });
    const admin = await readIdentity(m.identity);
    assert.equal(await plainConnect(m.address, admin), 'connected');
    agent = startAgent({
      manager: m.address,
      token: m.workerToken,
      name: 'plain',
      address: '127.0.0.8',
      runtime: 'process',
      extraArgs: ['--insecure'],
    });
    await waitForNodes(m, 1);
    // A client that was not told expects TLS and cannot talk to it.
    const r = await cli({ address: m.address, identity: m.identity }, ['node', 'ls']);
    assert.notEqual(r.code, 0);
  });
});

describe('certificate lifecycle with a short lifetime', () => {
  let m: ManagerProc;
  let agent: AgentProc;
  const work = tempDir('renew-work');

  before(async () => {
    m = await startManager({ extraArgs: ['--cert-expiry', '20s'] });
    agent = startAgent({
      manager: m.address,
      token: m.workerToken,
      name: 'renewing',
      address: '127.0.0.7',
      runtime: 'process',
      extraArgs: ['--remove-tasks-on-stop'],
    });
    await waitForNodes(m, 1);
  });

  after(async () => {
    if (agent) await stopProc(agent.proc);
    await killTasksOf('127.0.0.7');
    if (m) await stopProc(m.proc);
    await fs.rm(work, { recursive: true, force: true });
  });

  test('the agent renews before expiry and its task is never restarted', TEST, async () => {
    const starts = path.join(work, 'starts');
    await cliOk(m, [
      'service',
      'create',
      '--name',
      'steady',
      '--detach',
      'busybox',
      '--',
      'sh',
      '-c',
      `echo started >> ${starts}; exec sleep 600`,
    ]);
    const before = await waitFor(
      async () => {
        const t = await runningTasks(m, 'steady');
        return t.length === 1 ? t : null;
      },
      { what: 'the task to run', timeoutMs: 30_000 },
    );
    const idFile = path.join(agent.dataDir, 'identity.json');
    const serial0 = JSON.parse((await readIdentity(idFile)).cert.body) as { serial: string };
    // Two renewals: the second proves the first certificate was adopted and used.
    await waitFor(
      async () => ((await readLog(agent.log)).match(/certificate renewed/g) ?? []).length >= 2,
      { what: 'two renewals', timeoutMs: 40_000, intervalMs: 500 },
    );
    const serial1 = JSON.parse((await readIdentity(idFile)).cert.body) as { serial: string };
    assert.notEqual(serial1.serial, serial0.serial);
    const after = await runningTasks(m, 'steady');
    assert.deepEqual(
      after.map((t) => t.id),
      before.map((t) => t.id),
    );
    assert.equal((await fs.readFile(starts, 'utf8')).trim().split('\n').length, 1);
    const nodes = await cliOk(m, ['node', 'ls']);
    assert.match(nodes, /Ready/);
    assert.doesNotMatch(await readLog(agent.log), /certificate expired/);
  });
});
