// End-to-end stacks on Docker: stacks isolated by name, names added later resolve, service_healthy waits, devices opt-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, cliJson, type TaskJson } from '../helpers/cluster.js';
import { TEST_IMAGE } from '../helpers/docker.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { composeFile, deploy, execIn, removeLeftovers } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const NODES = [
  { name: 'dsc-a', address: '127.0.0.2', extraArgs: ['--allow-devices'] },
  { name: 'dsc-b', address: '127.0.0.3' },
] as const;

/** A stack whose "api" answers with the stack's name, and a "client" to ask from. */
const pair = (stack: string, extra = '') => `
services:
  api:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo api-of-${stack} > /www/index.html && exec httpd -f -p 8080 -h /www"]
    expose: ["8080"]
  client:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec sleep 100000"]
${extra}`;

const fetchFrom = (service: string, url: string) => execIn(service, ['wget', '-qO-', url]);

test(
  'stacks: isolated by name, a later service resolves from a running task, depends_on healthy, devices',
  { timeout: 360_000 },
  async (t) => {
    const cluster = await startDockerCluster(t, NODES, []);
    if (!cluster) return;
    const { manager: m } = cluster;
    for (const s of ['alpha', 'beta', 'health', 'dev']) t.after(() => removeLeftovers(s));
    await deploy(m, await composeFile(pair('alpha')), 'alpha');
    await deploy(m, await composeFile(pair('beta')), 'beta');

    await t.test('each stack reaches its own api by name, never the other', async () => {
      const a = await waitFor(
        async () => {
          const r = await fetchFrom('alpha_client', 'http://api:8080/').catch(() => null);
          return r?.code === 0 ? r.out.trim() : null;
        },
        { what: 'alpha_client reaches api by name', timeoutMs: 60_000 },
      );
      assert.equal(a, 'api-of-alpha');
      const b = await fetchFrom('beta_client', 'http://api:8080/');
      assert.equal(b.out.trim(), 'api-of-beta');
      const full = await fetchFrom('alpha_client', 'http://alpha_api:8080/');
      assert.equal(full.out.trim(), 'api-of-alpha', 'STACK_SERVICE resolves too');
      const cross = await fetchFrom('alpha_client', 'http://beta_api:8080/');
      assert.notEqual(cross.code, 0, `alpha reached beta's api: ${cross.out}`);
    });

    await t.test('a service added by a redeploy resolves from a task already running', async () => {
      const extra = `  late:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo late > /www/index.html && exec httpd -f -p 9090 -h /www"]
    expose: ["9090"]
`;
      const before = await cliJson<TaskJson[]>(m, ['service', 'ps', 'alpha_client']);
      await deploy(m, await composeFile(pair('alpha', extra)), 'alpha');
      const got = await waitFor(
        async () => {
          const r = await fetchFrom('alpha_client', 'http://late:9090/').catch(() => null);
          return r?.code === 0 ? r.out.trim() : null;
        },
        { what: 'the new service answers by name', timeoutMs: 60_000 },
      );
      assert.equal(got, 'late');
      const after = await cliJson<TaskJson[]>(m, ['service', 'ps', 'alpha_client']);
      assert.deepEqual(
        after.map((x) => x.id),
        before.map((x) => x.id),
        'the client kept its task',
      );
    });

    await t.test(
      'service_healthy: the dependent starts only once its dependency is healthy',
      async () => {
        await deploy(
          m,
          await composeFile(`
services:
  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "sleep 8 && touch /tmp/ready && exec sleep 100000"]
    healthcheck:
      test: ["CMD-SHELL", "[ -f /tmp/ready ]"]
      interval: 1s
      retries: 30
  app:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec sleep 100000"]
    depends_on:
      db:
        condition: service_healthy
`),
          'health',
          ['--detach'],
        );
        const waiting = await waitFor(
          async () => {
            const ps = await cliJson<(TaskJson & { message: string })[]>(m, [
              'stack',
              'ps',
              'health',
            ]);
            const app = ps.find((x) => x.service === 'health_app');
            return app?.state === 'pending' ? app : null;
          },
          { what: 'app pending', timeoutMs: 20_000 },
        );
        assert.match(waiting.message, /waiting for health_db to be healthy/);
        const ps = await waitFor(
          async () => {
            const all = await cliJson<TaskJson[]>(m, ['stack', 'ps', 'health']);
            return all.some((x) => x.service === 'health_app' && x.state === 'running')
              ? all
              : null;
          },
          { what: 'app running', timeoutMs: 90_000 },
        );
        const db = ps.find((x) => x.service === 'health_db');
        const app = ps.find((x) => x.service === 'health_app');
        assert.equal(db?.health, 'healthy');
        assert.ok(app && db && app.updatedAt >= db.updatedAt);
      },
    );

    await t.test('devices run only on an agent started with --allow-devices', async () => {
      await deploy(
        m,
        await composeFile(`
services:
  gpio:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec sleep 100000"]
    devices: ["/dev/null:/dev/fake0"]
    deploy:
      placement:
        constraints: [node.hostname == dsc-b]
`),
        'dev',
        ['--detach'],
      );
      const task = await waitFor(
        async () => {
          const all = await cliJson<TaskJson[]>(m, ['stack', 'ps', 'dev']);
          const x = all.find((y) => y.error?.includes('allow devices'));
          return x ?? null;
        },
        { what: 'stack ps shows why no node takes the task', timeoutMs: 30_000 },
      );
      assert.equal(task.state, 'pending');
      const r = await cli(m, ['stack', 'ps', 'dev']);
      assert.match(r.stdout, /does not allow devices|do not allow devices/);
      await deploy(
        m,
        await composeFile(`
services:
  gpio:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec sleep 100000"]
    devices: ["/dev/null:/dev/fake0"]
`),
        'dev',
      );
      const running = await cliJson<(TaskJson & { nodeName: string })[]>(m, ['stack', 'ps', 'dev']);
      const live = running.find((x) => x.state === 'running');
      assert.equal(live?.nodeName, 'dsc-a');
      const ls = await execIn('dev_gpio', ['ls', '/dev/fake0']);
      assert.equal(ls.code, 0);
    });

    for (const s of ['alpha', 'beta', 'health', 'dev'])
      assert.equal((await cli(m, ['stack', 'rm', s], 120_000)).code, 0);
  },
);
