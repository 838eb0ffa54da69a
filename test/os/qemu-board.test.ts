// A qemu-arm64 board image from `fleet os build`, configured with `fleet os configure`, booted under QEMU: it joins on its own, runs a task, rejoins with its stored identity, and runs the task offline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { bootBoard, bootFileOf, qemuSystemMissing, type BoardVm } from '../helpers/board-vm.js';
import {
  cliJson,
  cliOk,
  startManager,
  stopProc,
  tempDir,
  type ManagerProc,
  type NodeJson,
  type TaskJson,
} from '../helpers/cluster.js';
import { buildBoardImage, inspectQemuImage, osBuildMissing } from '../helpers/os-build.js';
import { waitFor } from '../helpers/wait.js';

const missing = osBuildMissing() ?? qemuSystemMissing();
if (missing && process.env.CI === 'true')
  throw new Error(`in CI the board tests must run: ${missing}`);

/** The task says on the board's console that it runs, so a board without a network shows it too. */
const TASK_SCRIPT = 'echo "labjob runs as $$" > /dev/console; exec sleep 600';

let dir = '';

/** A test that fails with the board still on turns it off, so the next boot has the disk alone. */
const turnOff = async (): Promise<void> => {
  await vm?.powerOff(60_000);
  vm = undefined;
};
let image = '';
let manager: ManagerProc | undefined;
let vm: BoardVm | undefined;
/** The node the board became on its first boot. */
let boardNode: NodeJson | undefined;

before(() => {
  dir = tempDir('qemu-board');
});

after(async () => {
  await vm?.powerOff(1_000);
  if (manager) await stopProc(manager.proc);
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test(
  'os build makes a qemu-arm64 image with Node.js, the agent and its units',
  {
    skip: missing ?? false,
    timeout: 9 * 60_000,
  },
  async () => {
    image = path.join(dir, 'board.img');
    const built = await buildBoardImage('qemu-arm64', 'process', image);
    console.log(built.summary);
    await inspectQemuImage(image, dir);
  },
);

test(
  'a configured image boots, grows its root, joins with its labels and runs a task',
  {
    skip: missing ?? false,
    timeout: 8 * 60_000,
  },
  async (t) => {
    if (!image) return t.skip('no image was built');
    manager = await startManager({ host: '127.0.0.1' });
    const port = manager.address.split(':')[1] ?? '';
    // QEMU's user-mode network shows the host's 127.0.0.1 to the board as 10.0.2.2.
    await cliOk(manager, [
      ...['os', 'configure', image, '--manager', `10.0.2.2:${port}`],
      ...['--token', manager.workerToken, '--label', 'room=lab', '--hostname', 'board-{serial}'],
    ]);
    // A bigger card than the image: the root partition grows on first boot.
    await fs.truncate(image, (await fs.stat(image)).size + 2 ** 30);
    const started = Date.now();
    vm = await bootBoard(image, dir);
    t.after(turnOff);
    boardNode = await waitFor(
      async () =>
        (await cliJson<NodeJson[]>(manager!, ['node', 'ls'])).find(
          (n) => n.role === 'worker' && n.status === 'ready',
        ),
      { what: 'the board to join and be ready', timeoutMs: 6 * 60_000, intervalMs: 2_000 },
    );
    console.log(`first boot to ready: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    assert.equal(boardNode.arch, 'arm64');
    assert.equal(boardNode.labels.room, 'lab');
    assert.match(boardNode.name, /^board-[0-9a-f]+$/);
    assert.match(
      vm.console(),
      /grew partition 2 of \/dev\/vda by \d+ MiB; resized the ext4 file system/,
    );
    await cliOk(manager, [
      ...['service', 'create', '--detach', '--name', 'labjob'],
      ...['--constraint', 'node.labels.room==lab', 'busybox', 'sh', '-c', TASK_SCRIPT],
    ]);
    const task = await runningTask(manager, 'labjob', 3 * 60_000);
    assert.equal(task.node, boardNode.id);
    assert.equal(await vm.powerOff(90_000), 'clean');
    vm = undefined;
    const settings = path.join(dir, 'fleet.json');
    await bootFileOf(image, 'fleet.json', settings);
    const after = JSON.parse(await fs.readFile(settings, 'utf8')) as Record<string, unknown>;
    assert.equal(after.token, undefined, 'the token is gone from the boot partition');
    assert.deepEqual(after.labels, { room: 'lab' });
  },
);

test(
  'the second boot rejoins with the stored identity and brings the task back',
  {
    skip: missing ?? false,
    timeout: 6 * 60_000,
  },
  async (t) => {
    if (!manager || !boardNode) return t.skip('the first boot did not join');
    const first = boardNode;
    // The board was turned off: the manager marks it down before it comes back.
    await waitFor(
      async () =>
        (await cliJson<NodeJson[]>(manager!, ['node', 'ls'])).find(
          (n) => n.id === first.id && n.status === 'down',
        ),
      { what: 'the manager to see the board down', timeoutMs: 2 * 60_000, intervalMs: 2_000 },
    );
    vm = await bootBoard(image, dir);
    t.after(turnOff);
    const again = await waitFor(
      async () =>
        (await cliJson<NodeJson[]>(manager!, ['node', 'ls'])).find(
          (n) => n.id === first.id && n.status === 'ready',
        ),
      { what: 'the board to be ready again', timeoutMs: 5 * 60_000, intervalMs: 2_000 },
    );
    assert.equal(again.name, first.name);
    const workers = (await cliJson<NodeJson[]>(manager, ['node', 'ls'])).filter(
      (n) => n.role === 'worker',
    );
    assert.equal(workers.length, 1, 'no second node');
    const task = await runningTask(manager, 'labjob', 2 * 60_000);
    assert.equal(task.node, first.id);
    assert.equal(await vm.powerOff(90_000), 'clean');
    vm = undefined;
  },
);

test(
  'a board that cannot reach its manager still brings its task back',
  { skip: missing ?? false, timeout: 4 * 60_000 },
  async (t) => {
    if (!boardNode) return t.skip('the first boot did not join');
    vm = await bootBoard(image, dir, { network: false });
    t.after(turnOff);
    await vm.waitForConsole(/labjob runs as \d+/, 'the task to start offline', 3 * 60_000);
    assert.equal(await vm.powerOff(90_000), 'clean');
    vm = undefined;
  },
);

function runningTask(m: ManagerProc, service: string, timeoutMs: number): Promise<TaskJson> {
  return waitFor(
    async () =>
      (await cliJson<TaskJson[]>(m, ['service', 'ps', service])).find((x) => x.state === 'running'),
    { what: `a running task of ${service}`, timeoutMs, intervalMs: 2_000 },
  );
}
