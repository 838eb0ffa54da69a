// `fleet agent release` against real managers: a bundle pushed, listed with its sha256 and signature, kept across a restart and on every manager.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NodeView, ReleaseView } from '../../shared/api.js';
import { verifyManifest } from '../../shared/ota/release-record.js';
import {
  REPO,
  cli,
  cliJson,
  clusterTarget,
  restartManager,
  startManager,
  stopProc,
  tempDir,
  type ManagerProc,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const VERSION = '0.7.3-test.1';

/** A bundle of the agent built by bin/bundle-agent.js into `dir`, with VERSION as its version. */
async function buildBundle(dir: string): Promise<string> {
  const out = path.join(dir, 'fleet-agent.mjs');
  await promisify(execFile)(process.execPath, [
    path.join(REPO, 'bin', 'bundle-agent.js'),
    '--out',
    out,
    '--release-version',
    VERSION,
  ]);
  return out;
}

const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');

const releases = (m: Pick<ManagerProc, 'address' | 'identity'>, stale = false) =>
  cliJson<ReleaseView[]>(m, ['agent', 'release', 'ls', ...(stale ? ['--stale'] : [])]);

/** The root key the admin identity trusts: the one that signs releases. */
async function rootPub(m: ManagerProc): Promise<string> {
  const identity = JSON.parse(await fs.readFile(m.identity, 'utf8')) as { rootPub: string };
  return identity.rootPub;
}

test('agent releases on one manager', { timeout: 300_000 }, async (t) => {
  const dir = tempDir('agent-release');
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const bundle = await buildBundle(dir);
  const digest = await sha256(bundle);
  let m = await startManager({ host: '127.0.16.11' });
  t.after(() => stopProc(m.proc));

  await t.test(
    'a bundle is pushed, signed by the root key and listed with its sha256',
    async () => {
      const r = await cli(m, ['agent', 'release', 'push', bundle]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`agent release ${VERSION.replace(/\./g, '\\.')}: sha256: ${digest}`),
      );
      const [rel, ...more] = await releases(m);
      assert.ok(rel);
      assert.deepEqual(more, []);
      assert.equal(rel.version, VERSION);
      assert.equal(rel.sha256, digest);
      assert.equal(rel.size, (await fs.stat(bundle)).size);
      assert.equal(rel.nodeMin, '20.0.0');
      assert.equal(rel.protocolVersion, 1);
      assert.equal(rel.stored, true);
      const manifest = {
        version: rel.version,
        nodeMin: rel.nodeMin,
        sha256: rel.sha256,
        size: rel.size,
        createdAt: Date.parse(rel.createdAt),
      };
      assert.equal(verifyManifest(manifest, rel.signature, await rootPub(m)), true);
      const table = await cli(m, ['agent', 'release', 'ls']);
      assert.match(table.stdout, /^VERSION\s+SHA256\s+SIZE\s+NODE MIN\s+CREATED\s+NODES\n/);
      assert.match(
        table.stdout,
        new RegExp(`\\n${VERSION.replace(/\./g, '\\.')}\\s+${digest.slice(0, 12)}\\s`),
      );
    },
  );

  await t.test(
    'the same bytes again are recorded already; other bytes under the version are refused',
    async () => {
      const again = await cli(m, ['agent', 'release', 'push', bundle]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /\(already recorded\)/);
      const changed = path.join(dir, 'changed.mjs');
      await fs.writeFile(
        changed,
        Buffer.concat([await fs.readFile(bundle), Buffer.from('\n// x\n')]),
      );
      const r = await cli(m, ['agent', 'release', 'push', changed]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        /agent release 0\.7\.3-test\.1 is already recorded with other content/,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, r.stderr);
      assert.equal((await releases(m)).length, 1);
    },
  );

  await t.test('a file that is not a bundle is refused, naming it and why', async () => {
    const text = path.join(dir, 'notes.txt');
    await fs.writeFile(text, 'not an agent\n');
    const r = await cli(m, ['agent', 'release', 'push', text]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /cannot push .*notes\.txt: it is not a fleet agent bundle/);
    const binary = path.join(dir, 'blob.bin');
    await fs.writeFile(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2, 3]));
    const b = await cli(m, ['agent', 'release', 'push', binary, '--version', '9.9.9']);
    assert.notEqual(b.code, 0, b.stdout);
    assert.match(b.stderr, /blob\.bin: it is not a fleet agent bundle: its first bytes/);
    assert.equal((await releases(m)).length, 1);
  });

  await t.test('an agent started from the bundle shows its version in node ls', async (tt) => {
    const agentDir = tempDir('agent-release-node');
    const log = createWriteStream(`${agentDir}.log`);
    const agent = spawn(
      process.execPath,
      [
        bundle,
        'start',
        ...['--manager', m.address, '--token', m.workerToken, '--data-dir', agentDir],
        ...['--advertise-addr', '127.0.16.21', '--name', 'bundled-1', '--runtime', 'process'],
        '--no-serve-blobs',
      ],
      { cwd: agentDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    agent.stdout.pipe(log);
    agent.stderr.pipe(log);
    tt.after(async () => {
      await stopProc(agent);
      await fs.rm(agentDir, { recursive: true, force: true });
    });
    const node = await waitFor(
      async () =>
        (await cliJson<NodeView[]>(m, ['node', 'ls'])).find(
          (n) => n.name === 'bundled-1' && n.status === 'ready' && n.agentVersion === VERSION,
        ),
      { what: 'the bundled agent to report its version', timeoutMs: 60_000, intervalMs: 300 },
    );
    assert.equal(node.protocolVersion, 1);
    const table = await cli(m, ['node', 'ls']);
    assert.match(table.stdout, /\sVERSION\s/);
    assert.match(table.stdout, new RegExp(`bundled-1\\s.*\\s${VERSION.replace(/\./g, '\\.')}\\s`));
    assert.deepEqual((await releases(m))[0]?.nodes, ['bundled-1']);
    const rm = await cli(m, ['agent', 'release', 'rm', VERSION]);
    assert.notEqual(rm.code, 0, rm.stdout);
    assert.match(rm.stderr, /runs on node bundled-1: upgrade it first, or use --force/);
  });

  await t.test('the release and its bundle survive a manager restart', async () => {
    await stopProc(m.proc);
    m = await restartManager(m);
    const [rel] = await releases(m);
    assert.equal(rel?.version, VERSION);
    assert.equal(rel?.sha256, digest);
    assert.equal(rel?.stored, true);
  });
});

test('a pushed release reaches every manager of three', { timeout: 300_000 }, async (t) => {
  const dir = tempDir('agent-release-3');
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const bundle = await buildBundle(dir);
  const managers: ManagerProc[] = [];
  t.after(() => Promise.all(managers.map((m) => stopProc(m.proc))));
  for (const host of ['127.0.16.31', '127.0.16.32', '127.0.16.33']) {
    const first = managers[0];
    managers.push(await startManager({ host, ...(first ? { join: first } : {}) }));
  }
  const target = clusterTarget(managers);
  await waitFor(
    async () => {
      const ms = await cliJson<{ raft: string; reachable: boolean }[]>(target, ['manager', 'ls']);
      return ms.filter((x) => x.raft === 'voter' && x.reachable).length === 3;
    },
    { what: 'three voting managers', timeoutMs: 60_000, intervalMs: 300 },
  );
  const r = await cli(target, ['agent', 'release', 'push', bundle, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  for (const m of managers) {
    const one = { address: m.address, identity: target.identity };
    await waitFor(async () => (await releases(one, true))[0]?.stored === true, {
      what: `the bundle on manager ${m.address}`,
      timeoutMs: 60_000,
      intervalMs: 300,
    });
  }
});
