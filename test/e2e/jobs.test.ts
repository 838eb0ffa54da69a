// Jobs and early failure on the real Docker engine: a replicated job completes, a global job runs once per node
// (one that joins later too), and a service no node can run fails fast with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cli,
  cliJson,
  cliOk,
  startAgent,
  stopProc,
  waitForNodes,
  type TaskJson,
} from '../helpers/cluster.js';
import { TEST_IMAGE, cleanupContainers } from '../helpers/docker.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { ensureForeignImage, foreignCannotRun, FOREIGN_ARCH } from '../helpers/foreign-image.js';
import { waitFor } from '../helpers/wait.js';

const NODES = [
  { name: 'job-a', address: '127.0.0.120' },
  { name: 'job-b', address: '127.0.0.121' },
] as const;
const LATE = { name: 'job-c', address: '127.0.0.122' };
const SERVICES = ['batch', 'setup', 'nopull', 'wrongarch'];
/** The bound for saying a service cannot converge. */
const GIVE_UP_WITHIN_MS = 15_000;

const count = (text: string, what: string): number => text.split(what).length - 1;

test('jobs and early failure on Docker', { timeout: 240_000 }, async (t) => {
  const cluster = await startDockerCluster(t, NODES, SERVICES);
  if (!cluster) return;
  const { manager: m } = cluster;

  await t.test('a replicated job of 3 completions, 2 at a time, ends complete', async () => {
    const r = await cli(m, [
      'service',
      'create',
      '--name',
      'batch',
      '--mode',
      'replicated-job',
      '--replicas',
      '3',
      '--max-concurrent',
      '2',
      '--timeout',
      '60s',
      TEST_IMAGE,
      '--',
      'sh',
      '-c',
      'sleep 1',
    ]);
    assert.equal(r.code, 0, `create waits for the job and succeeds: ${r.stderr}`);
    assert.match(r.stdout, /job progress: 3 out of 3 tasks complete/);
    const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'batch']);
    assert.equal(tasks.length, 3);
    assert.ok(
      tasks.every((x) => x.state === 'complete'),
      JSON.stringify(tasks),
    );
    assert.deepEqual(tasks.map((x) => x.slot).sort(), [1, 2, 3]);
    assert.equal(count(await cliOk(m, ['service', 'ps', 'batch']), 'Complete'), 3);
    assert.match(
      await cliOk(m, ['service', 'ls']),
      /batch\s+replicated-job\s+0\/0 \(3\/3 completed\)/,
    );
  });

  await t.test(
    'a global job runs once on each node, and once on a node that joins later',
    async () => {
      await cliOk(m, [
        'service',
        'create',
        '--name',
        'setup',
        '--mode',
        'global-job',
        '--timeout',
        '60s',
        TEST_IMAGE,
        '--',
        'sh',
        '-c',
        'echo once',
      ]);
      const first = await cliJson<TaskJson[]>(m, ['service', 'ps', 'setup']);
      assert.equal(first.length, 2);
      assert.ok(first.every((x) => x.state === 'complete'));
      assert.equal(new Set(first.map((x) => x.node)).size, 2, 'one task per node');

      const late = startAgent({
        manager: m.address,
        token: m.workerToken,
        name: LATE.name,
        address: LATE.address,
        runtime: 'docker',
      });
      let lateId = '';
      t.after(async () => {
        await stopProc(late.proc);
        if (lateId) await cleanupContainers(lateId);
      });
      lateId = (await waitForNodes(m, 3)).find((n) => n.name === LATE.name)?.id ?? '';
      const all = await waitFor(
        async () => {
          const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'setup']);
          return tasks.some((x) => x.node === lateId && x.state === 'complete') ? tasks : null;
        },
        { what: 'the job complete on the node that joined', timeoutMs: 30_000 },
      );
      assert.equal(all.length, 3, 'each node ran the job once');
      assert.equal(all.filter((x) => x.node === lateId).length, 1);
      assert.match(
        await cliOk(m, ['service', 'ls']),
        /setup\s+global-job\s+0\/0 \(3\/3 completed\)/,
      );
    },
  );

  await t.test('an image no node can pull: the reason once, non-zero, within 15 s', async () => {
    // A registry on a loopback port nobody listens on: the pull fails at once, and offline.
    const image = '127.0.0.1:1/fleet-test/nosuch:1';
    const started = Date.now();
    const r = await cli(m, ['service', 'create', '--name', 'nopull', image]);
    const took = Date.now() - started;
    assert.notEqual(r.code, 0, 'create fails');
    assert.ok(took < GIVE_UP_WITHIN_MS, `gave up after ${took} ms`);
    assert.match(
      r.stderr,
      /none of the \d suitable nodes can pull 127\.0\.0\.1:1\/fleet-test\/nosuch:1: /,
    );
    assert.match(
      r.stderr,
      /push 127\.0\.0\.1:1\/fleet-test\/nosuch:1 to a registry the boards reach/,
    );
    assert.equal(count(r.stderr + r.stdout, 'cannot converge'), 1, 'said once');
    const svc = await cliJson<{ name: string }[]>(m, ['service', 'ls']);
    assert.ok(
      svc.some((s) => s.name === 'nopull'),
      'the service stays, retried in the background',
    );
  });

  await t.test(
    `an image for ${FOREIGN_ARCH}: exec format error once, non-zero, within 15 s`,
    async (tt) => {
      const emulator = await foreignCannotRun();
      if ('why' in emulator) {
        tt.skip(emulator.why);
        return;
      }
      tt.after(emulator.restore);
      const image = await ensureForeignImage();
      const started = Date.now();
      const r = await cli(m, [
        'service',
        'create',
        '--name',
        'wrongarch',
        image,
        '--',
        '-c',
        'echo hi',
      ]);
      const took = Date.now() - started;
      assert.notEqual(r.code, 0, 'create fails');
      assert.ok(took < GIVE_UP_WITHIN_MS, `gave up after ${took} ms`);
      assert.match(r.stderr, new RegExp(`none of the \\d suitable nodes can run ${image}: `));
      assert.match(
        r.stderr,
        new RegExp(`exec format error: the program is built for linux/${FOREIGN_ARCH}`),
      );
      assert.match(r.stderr, /--platform/);
      assert.equal(count(r.stderr + r.stdout, 'cannot converge'), 1, 'said once');
    },
  );
});
