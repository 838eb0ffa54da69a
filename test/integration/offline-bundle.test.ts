// Offline bundles end to end: with the manager down a board applies a signed bundle (image its engine never had, agent upgrade, service); bad bundles change nothing; the manager adopts without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MAGIC, readBundleHead } from '../../shared/bundle/container.js';
import { signBundle, type SignedBundle } from '../../shared/bundle/manifest.js';
import { fingerprint, generateSigningKey } from '../../shared/identity.js';
import type { NodeView } from '../../shared/api.js';
import { loadState } from '../../agent/ota/ota-state-file.js';
import { readBundleState } from '../../agent/bundle/state.js';
import {
  REPO,
  cliJson,
  cliOk,
  restartManager,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type ManagerProc,
  type TaskJson,
} from '../helpers/cluster.js';
import { requireDocker, taskContainers } from '../helpers/docker.js';
import { listImages, startEngines } from '../helpers/engines.js';
import { buildLaptopImage } from '../helpers/pushed-image.js';
import { waitFor } from '../helpers/wait.js';

const AGENT_JS = path.join(REPO, 'dist', 'fleet-agent.mjs');
const MANAGER_HOST = '127.0.24.1';
const BOARD = '127.0.24.2';
const NAME = 'fleet-bundle-board';
const SERVICE = 'fleet-bundle-web';
const NEXT = '0.2.0';
const run = promisify(execFile);

function supervised(dir: string, args: string[]): ChildProcess {
  const fd = openSync(path.join(dir, 'board.log'), 'a');
  const proc = spawn(process.execPath, [AGENT_JS, 'agent', 'start', '--supervise', ...args], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  return proc;
}

/** Every file under the data dir with the sha256 of its bytes: "nothing changed" is this equal. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** The good bundle's manifest signed by another cluster's root key, with the same entries. */
async function foreignCopy(good: string, out: string): Promise<void> {
  const opened = await readBundleHead(good);
  const other = generateSigningKey();
  const { manifest } = opened.raw as SignedBundle;
  const signed = signBundle(
    { ...manifest, cluster: fingerprint(other.publicKey) },
    other.secretKey,
  );
  const json = Buffer.from(JSON.stringify(signed));
  const head = Buffer.from(MAGIC + String(json.length).padStart(10, '0') + '\n');
  writeFileSync(out, Buffer.concat([head, json, readFileSync(good).subarray(opened.entriesAt)]));
}

test(
  'offline: a signed bundle loads its image, upgrades the agent and runs its service with no manager; bad bundles change nothing; the manager adopts the task without restarting it',
  { timeout: 300_000 },
  async (t) => {
    if (!(await requireDocker(t))) return;
    const [engine] = await startEngines(t, 1, { prefix: 'fleet-bundle-' });
    assert.ok(engine);
    const image = await buildLaptopImage(t, { bigMiB: 1, repo: 'fleet-bundle/web' });
    const dir = tempDir('offline-bundle');
    const dataDir = path.join(dir, 'board');
    const m: ManagerProc = await startManager({ host: MANAGER_HOST, heartbeat: '500ms' });
    let manager = m;
    const common = ['--data-dir', dataDir, '--advertise-addr', BOARD, '--name', NAME];
    common.push('--runtime', 'docker', '--docker-host', engine.host, '--label', 'site=north');
    common.push('--upgrade-monitor', '30s', '--manager', m.address);
    let agent = supervised(dir, [...common, '--token', m.workerToken]);
    t.after(async () => {
      await stopProc(agent);
      await stopProc(manager.proc);
      rmSync(dir, { recursive: true, force: true });
    });
    await waitForNodes(m, 1, 60_000);
    // Paused: the service waits for a node, so only the bundle ever runs it.
    await cliOk(m, ['node', 'update', '--availability', 'pause', NAME]);
    await cliOk(m, ['service', 'create', '--name', SERVICE, '--detach', image.name, 'sleep', '1d']);
    const release = path.join(dir, `fleet-agent-${NEXT}.mjs`);
    await run(process.execPath, [
      path.join(REPO, 'bin', 'bundle-agent.js'),
      '--release-version',
      NEXT,
      '--out',
      release,
    ]);
    await cliOk(m, ['agent', 'release', 'push', release]);

    const make = async (name: string, extra: string[]): Promise<string> => {
      const out = path.join(dir, name);
      const args = ['bundle', 'create', '--out', out, '--service', SERVICE, '--image', image.name];
      await cliOk(m, [...args, ...extra]);
      return out;
    };
    const older = await make('fleet-bundle-older.fleet', ['--node', NAME]);
    let t0 = Date.now();
    const good = await make('fleet-bundle-good.fleet', ['--node', NAME, '--agent', NEXT]);
    const mib = (statSync(good).size / 1048576).toFixed(1);
    t.diagnostic(`bundle create (1 image, agent ${NEXT}): ${mib} MiB in ${Date.now() - t0} ms`);
    const expired = await make('expired.fleet', ['--node', NAME, '--expires', '1ms']);
    const elsewhere = await make('elsewhere.fleet', [
      '--node',
      'other-board',
      '--label',
      'site=south',
    ]);
    const tampered = path.join(dir, 'tampered.fleet');
    const bytes = readFileSync(good);
    const at = bytes.length - 100;
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(tampered, bytes);
    const foreign = path.join(dir, 'foreign.fleet');
    await foreignCopy(good, foreign);
    const sequence = ((await readBundleHead(good)).raw as SignedBundle).manifest.sequence;

    // No manager from here on, and the board's agent stopped.
    await stopProc(m.proc);
    await stopProc(agent);
    const apply = (file: string): Promise<{ code: number; out: string }> =>
      new Promise((resolve) => {
        const args = ['bundle', 'apply', file, '--data-dir', dataDir, '--docker-host', engine.host];
        execFile(process.execPath, [AGENT_JS, ...args], (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
        );
      });
    const before = { files: snapshot(dataDir), images: await listImages(engine) };
    assert.ok(!before.images.includes(image.name), "the board's engine never had the image");
    const refusals: [string, RegExp][] = [
      [
        foreign,
        /bundle refused: signed by cluster [0-9a-f]{32}, this board belongs to cluster [0-9a-f]{32}/,
      ],
      [tampered, /bundle refused: entry blobs\/sha256:[0-9a-f]{64} does not match its hash/],
      [expired, /bundle refused: expired at /],
      [
        elsewhere,
        /bundle refused: meant for nodes other-board or labels site=south, this board is \S+ \(fleet-bundle-board\) with labels site=north/,
      ],
    ];
    for (const [file, reason] of refusals) {
      const r = await apply(file);
      assert.equal(r.code, 3, r.out);
      assert.match(r.out, reason);
      t.diagnostic(r.out.trim());
      assert.deepEqual({ files: snapshot(dataDir), images: await listImages(engine) }, before);
    }
    t0 = Date.now();
    const applied = await apply(good);
    t.diagnostic(`bundle apply: ${Date.now() - t0} ms`);
    assert.equal(applied.code, 0, applied.out);
    t.diagnostic(applied.out.trim());
    assert.ok((await listImages(engine)).includes(image.name), 'the bundled image is loaded');
    const afterGood = snapshot(dataDir);
    const old = await apply(older);
    assert.equal(old.code, 3, old.out);
    assert.match(
      old.out,
      new RegExp(
        `bundle refused: bundle \\d+ is older than the bundle ${sequence} already applied`,
      ),
    );
    assert.deepEqual(snapshot(dataDir), afterGood);

    // The board restarts with no manager: the new agent release and the bundled task.
    agent = supervised(dir, common);
    t0 = Date.now();
    const [running] = await waitFor(
      async () => {
        const cs = await taskContainers(SERVICE, { socket: engine.socket });
        return cs.length === 1 && cs[0]?.running ? cs : null;
      },
      { what: 'the bundled task running', timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.ok(running);
    await waitFor(() => (loadState(dataDir).state.current === NEXT ? true : null), {
      what: `the board committed agent ${NEXT}`,
      timeoutMs: 60_000,
      intervalMs: 250,
    });

    // The manager comes back and adopts what the board runs.
    t.diagnostic(
      `offline start to task running and agent ${NEXT} committed: ${Date.now() - t0} ms`,
    );
    t0 = Date.now();
    manager = await restartManager(m);
    const adopted = await waitFor(
      async () => {
        const tasks = await cliJson<TaskJson[]>(manager, ['service', 'ps', SERVICE]);
        const live = tasks.filter((x) => x.desiredState === 'running');
        return live.length === 1 && live[0]?.state === 'running' ? live[0] : null;
      },
      { what: 'the manager to adopt the bundled task', timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal(adopted.id, running.taskId);
    t.diagnostic(`manager restart to the task adopted: ${Date.now() - t0} ms`);
    await waitFor(async () => ((await readBundleState(dataDir))?.pending ? null : true), {
      what: 'the board to see its bundle adopted',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const node = (await cliJson<NodeView[]>(manager, ['node', 'ls'])).find((n) => n.name === NAME);
    assert.equal(node?.agentVersion, NEXT);
    const after = await taskContainers(SERVICE, { socket: engine.socket, all: true });
    assert.deepEqual(
      after.map((c) => [c.id, c.running, c.startedAt, c.restartCount]),
      [[running.id, true, running.startedAt, running.restartCount]],
      'the same container, never restarted',
    );
  },
);
