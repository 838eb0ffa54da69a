// A pushed image's transfer cut in the middle (agent killed, manager restarted, connection dropped) resumes from the bytes on disk, and what loads is the pushed image.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ImageDetail, ImageOnNode } from '../../shared/api-images.js';
import { CHUNK_BYTES } from '../../shared/images/blob-protocol.js';
import {
  cli,
  cliOk,
  readLog,
  restartAgent,
  restartManager,
  runningTasks,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { startCutLink, type CutLink } from '../helpers/cut-link.js';
import { cleanupContainers, ensureTestImage, requireDocker } from '../helpers/docker.js';
import { engineDocker, startEngines, type Engine } from '../helpers/engines.js';
import { buildLaptopImage, type BuiltImage } from '../helpers/pushed-image.js';
import { waitFor } from '../helpers/wait.js';

const BIG_MIB = 24;
/** 24 MiB at 4 MiB/s: about six seconds of transfer, long enough to cut it half-way. */
const RATE = '4M';
const SERVICE = 'resume';

interface Board {
  /** The current processes: a test that restarts one replaces it here, for the teardown. */
  procs: { manager: ManagerProc; agent: AgentProc };
  engine: Engine;
  image: BuiltImage;
  /** The digest `fleet image push` printed. */
  digest: string;
  /** Bytes of the image's blobs, all of which the empty engine needs. */
  size: number;
  /** The agent's flags besides the usual ones, for a restart. */
  agentArgs: string[];
}

/**
 * A manager and one agent (its own engine, its download limited to RATE) on loopback addresses,
 * an image with a big layer pushed to the manager. `via` gives the address the agent is told
 * for the manager (a relay, say). Everything is stopped after the test.
 */
async function startBoard(
  t: TestContext,
  o: {
    prefix: string;
    managerHost: string;
    agentHost: string;
    via?: (manager: ManagerProc) => Promise<string>;
  },
): Promise<Board | null> {
  if (!(await requireDocker(t))) return null;
  await ensureTestImage();
  const live: { manager?: ManagerProc; agent?: AgentProc; nodeId?: string; engine?: Engine } = {};
  // Registered before the engine's own hook, so the processes stop before their engine does.
  t.after(async () => {
    const { manager, agent, nodeId, engine } = live;
    if (manager) await cli(manager, ['service', 'rm', SERVICE], 10_000).catch(() => null);
    if (agent) await stopProc(agent.proc);
    if (manager) await stopProc(manager.proc);
    if (nodeId && engine) await cleanupContainers(nodeId, engine.host).catch(() => undefined);
    for (const dir of [agent?.dataDir, manager?.dataDir]) {
      if (dir === undefined) continue;
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(`${dir}.log`, { force: true });
    }
  });
  const image = await buildLaptopImage(t, { bigMiB: BIG_MIB });
  const [engine] = await startEngines(t, 1, { prefix: o.prefix });
  assert.ok(engine);
  live.engine = engine;
  const manager = await startManager({ host: o.managerHost });
  live.manager = manager;
  const agentArgs = ['--docker-host', engine.host, '--max-bandwidth', RATE];
  const agent = startAgent({
    manager: o.via ? await o.via(manager) : manager.address,
    token: manager.workerToken,
    name: 'resume-1',
    address: o.agentHost,
    runtime: 'docker',
    extraArgs: agentArgs,
  });
  live.agent = agent;
  const [node] = await waitForNodes(manager, 1, 30_000);
  assert.ok(node);
  live.nodeId = node.id;
  const pushed = await cliOk(manager, ['image', 'push', image.name]);
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
  assert.ok(digest, `push names the digest: ${pushed}`);
  const size = (await inspectImage(manager, image.name)).size;
  const procs = {
    get manager(): ManagerProc {
      return live.manager ?? manager;
    },
    set manager(m: ManagerProc) {
      live.manager = m;
    },
    get agent(): AgentProc {
      return live.agent ?? agent;
    },
    set agent(a: AgentProc) {
      live.agent = a;
    },
  };
  return { procs, engine, image, digest, size, agentArgs };
}

const inspectImage = async (m: ManagerProc, name: string): Promise<ImageDetail> => {
  const [d] = JSON.parse(await cliOk(m, ['image', 'inspect', name])) as ImageDetail[];
  assert.ok(d);
  return d;
};

/** Bytes of blobs in the agent's store: complete ones and uploads under way. */
async function bytesOnDisk(agent: AgentProc): Promise<number> {
  let total = 0;
  for (const sub of ['sha256', 'uploads']) {
    const dir = path.join(agent.dataDir, 'images', 'blobs', sub);
    for (const name of await fs.readdir(dir).catch(() => [])) {
      const st = await fs.stat(path.join(dir, name)).catch(() => null);
      total += st?.size ?? 0;
    }
  }
  return total;
}

/** Starts the service and waits until 35% of the image is on the agent's disk (but not 70%). */
async function startAndWaitPartway(b: Board): Promise<number> {
  await cliOk(b.procs.manager, ['service', 'create', '--name', SERVICE, '--detach', b.image.name]);
  const seen = await waitFor(
    async () => {
      const n = await bytesOnDisk(b.procs.agent);
      return n >= 0.35 * b.size ? n : null;
    },
    { what: 'over a third of the image on the agent', timeoutMs: 90_000, intervalMs: 100 },
  );
  assert.ok(seen <= 0.7 * b.size, `caught mid-way (${seen} of ${b.size} bytes on disk)`);
  return seen;
}

/** The agent's report once it loaded the image. */
const loaded = (b: Board): Promise<ImageOnNode> =>
  waitFor(
    async () =>
      (await inspectImage(b.procs.manager, b.image.name)).nodes.find(
        (n) => n.node === 'resume-1' && n.state === 'loaded',
      ) ?? null,
    { what: 'the agent to load the image', timeoutMs: 120_000, intervalMs: 500 },
  );

/** The agent needed every blob but the manifest (its engine had nothing): config and layers. */
function assertWholeImage(b: Board, node: ImageOnNode): void {
  assert.ok(
    node.total <= b.size && node.total > b.size - 64 * 1024,
    `the agent fetched ${node.total} bytes of a ${b.size}-byte image`,
  );
}

/** The task runs, on the pushed content: the engine's image ID is the laptop's. */
async function assertRunsPushedImage(b: Board): Promise<void> {
  await waitFor(
    async () => ((await runningTasks(b.procs.manager, SERVICE)).length === 1 ? true : null),
    { what: 'the task to run', timeoutMs: 60_000, intervalMs: 500 },
  );
  const inspect = await engineDocker(b.engine).getImage(b.image.name).inspect();
  assert.equal(inspect.Id, b.image.id, 'the engine holds the pushed image under its name');
  const detail = await inspectImage(b.procs.manager, b.image.name);
  assert.equal(detail.digest, b.digest, 'the cluster image is the one pushed');
}

test('an agent killed half-way through a download resumes from its disk when it starts again', async (t) => {
  const b = await startBoard(t, {
    prefix: 'flresume',
    managerHost: '127.0.14.1',
    agentHost: '127.0.14.2',
  });
  if (!b) return;
  await startAndWaitPartway(b);
  await stopProc(b.procs.agent.proc, 'SIGKILL');
  const kept = await bytesOnDisk(b.procs.agent);
  assert.ok(kept >= 0.35 * b.size && kept < b.size, `${kept} bytes kept on disk`);

  b.procs.agent = restartAgent(b.procs.agent, b.procs.manager.address, 'docker', b.agentArgs);
  const node = await loaded(b);
  // The restarted process counts only what it fetched itself: the missing part, not the whole.
  t.diagnostic(
    `image ${b.size} bytes: ${kept} on disk at the kill, ${node.fromManager} fetched after the restart`,
  );
  assertWholeImage(b, node);
  assert.ok(
    node.fromManager <= node.total - kept + CHUNK_BYTES,
    `after the restart the agent fetched ${node.fromManager} bytes; ${node.total - kept} were missing`,
  );
  assert.ok(kept + node.fromManager <= node.total + CHUNK_BYTES, 'the image crossed the link once');
  await assertRunsPushedImage(b);
});

test('a manager restarted half-way through a download: the agent reconnects and resumes', async (t) => {
  const b = await startBoard(t, {
    prefix: 'flresume',
    managerHost: '127.0.14.3',
    agentHost: '127.0.14.4',
  });
  if (!b) return;
  await startAndWaitPartway(b);
  await stopProc(b.procs.manager.proc);
  const atStop = await bytesOnDisk(b.procs.agent);
  assert.ok(atStop < b.size, `the download was cut (${atStop} of ${b.size} bytes)`);
  b.procs.manager = await restartManager(b.procs.manager);

  const node = await loaded(b);
  // One agent process throughout: its counter adds both attempts, so a second download from
  // zero would show the bytes before the cut twice.
  t.diagnostic(
    `image ${b.size} bytes: ${atStop} on disk when the manager stopped, ${node.fromManager} from the manager in all`,
  );
  assertWholeImage(b, node);
  assert.match(await readLog(b.procs.agent.log), /lost the manager connection/);
  assert.ok(
    node.fromManager <= node.total + CHUNK_BYTES,
    `the agent fetched ${node.fromManager} bytes of a ${b.size}-byte image`,
  );
  await assertRunsPushedImage(b);
});

test('a connection dropped half-way through a download: the agent reconnects and resumes', async (t) => {
  const hosts = { manager: '127.0.14.5', agent: '127.0.14.6', link: '127.0.14.7' };
  const between: { link?: CutLink } = {};
  const b = await startBoard(t, {
    prefix: 'flresume',
    managerHost: hosts.manager,
    agentHost: hosts.agent,
    via: async (m) => {
      between.link = await startCutLink(t, hosts.link, m.address);
      return between.link.address;
    },
  });
  if (!b) return;
  const relay = between.link;
  assert.ok(relay);
  await startAndWaitPartway(b);
  const before = relay.accepted;
  const cut = relay.cut();
  assert.ok(cut >= 1, 'the agent was connected through the relay');
  const atCut = await bytesOnDisk(b.procs.agent);
  assert.ok(atCut < b.size, `the download was cut (${atCut} of ${b.size} bytes)`);

  const node = await loaded(b);
  t.diagnostic(
    `image ${b.size} bytes: ${atCut} on disk when ${cut} connection(s) were reset, ${node.fromManager} from the manager in all`,
  );
  assert.ok(relay.accepted > before, 'the agent connected again through the relay');
  assert.equal(b.procs.agent.proc.exitCode, null, 'the agent did not restart');
  assertWholeImage(b, node);
  assert.match(await readLog(b.procs.agent.log), /lost the manager connection/);
  assert.ok(
    node.fromManager <= node.total + CHUNK_BYTES,
    `the agent fetched ${node.fromManager} bytes of a ${b.size}-byte image`,
  );
  await assertRunsPushedImage(b);
});

test('a chunk damaged on disk while the agent was down is refused on restart and fetched again', async (t) => {
  const b = await startBoard(t, {
    prefix: 'flresume',
    managerHost: '127.0.14.8',
    agentHost: '127.0.14.9',
  });
  if (!b) return;
  await startAndWaitPartway(b);
  await stopProc(b.procs.agent.proc, 'SIGKILL');
  const kept = await bytesOnDisk(b.procs.agent);
  const uploads = path.join(b.procs.agent.dataDir, 'images', 'blobs', 'uploads');
  const [partial] = await fs.readdir(uploads);
  assert.ok(partial, 'the big layer is under way');
  const file = path.join(uploads, partial);
  const held = (await fs.stat(file)).size;
  // One byte of the third whole chunk from the end: that chunk and those after it come again.
  const chunkStart = (Math.floor(held / CHUNK_BYTES) - 3) * CHUNK_BYTES;
  assert.ok(chunkStart > 0);
  const handle = await fs.open(file, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, chunkStart + 100);
  byte[0] = (byte[0] ?? 0) ^ 0xff;
  await handle.write(byte, 0, 1, chunkStart + 100);
  await handle.close();

  b.procs.agent = restartAgent(b.procs.agent, b.procs.manager.address, 'docker', b.agentArgs);
  const node = await loaded(b);
  const refetched = held - chunkStart;
  t.diagnostic(
    `image ${b.size} bytes: ${kept} on disk at the kill, damaged at ${chunkStart + 100} of ${held} in the layer, ${node.fromManager} fetched after the restart`,
  );
  assertWholeImage(b, node);
  assert.match(await readLog(b.procs.agent.log), /a download kept on disk was damaged/);
  assert.ok(
    node.fromManager >= node.total - kept + refetched,
    `the damaged chunk and those after it came again (${node.fromManager} bytes)`,
  );
  assert.ok(
    node.fromManager <= node.total - kept + refetched + CHUNK_BYTES,
    `and nothing before it (${node.fromManager} bytes; ${node.total - kept} were missing)`,
  );
  await assertRunsPushedImage(b);
});
