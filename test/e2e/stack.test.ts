// End-to-end stack on Docker: a queue + web + worker app from one Compose file, found by name across nodes, scaled, rolled, removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { promises as fs } from 'node:fs';
import { cli, cliJson, cliOk, type TaskJson } from '../helpers/cluster.js';
import { DOCKER_SOCKET, TEST_IMAGE } from '../helpers/docker.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { httpGet as get } from '../helpers/http.js';
import { composeFile, deploy, leftovers, removeLeftovers } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const NODES = [
  { name: 'stk-a', address: '127.0.0.2', labels: ['role=queue'] },
  { name: 'stk-b', address: '127.0.0.3', labels: ['role=web'] },
  { name: 'stk-c', address: '127.0.0.4', labels: ['role=web'] },
] as const;
const IMAGE_V2 = 'fleet-test/busybox:stack-v2';

/** The web task answers each request with what it fetched just now from rabbit, by name. */
const WEB_CMD = [
  'mkdir -p /www/cgi-bin',
  "echo '#!/bin/sh' > /www/cgi-bin/q",
  // CRLF after the header, as HTTP wants (busybox httpd passes a CGI's header on as written).
  `echo 'printf "Content-Type: text/plain\\r\\n\\r\\n"' >> /www/cgi-bin/q`,
  "echo 'echo web-$$HOSTNAME got $$(wget -qO- http://rabbit:5672/)' >> /www/cgi-bin/q",
  'chmod +x /www/cgi-bin/q',
  'exec httpd -f -p 80 -h /www',
].join(' && ');

const compose = (replicas: number, webImage: string) => `
services:
  rabbit:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo rabbit-$$HOSTNAME > /www/index.html && exec httpd -f -p 5672 -h /www"]
    expose: ["5672"]
    networks: [webnet]
    deploy:
      placement:
        constraints: [node.labels.role == queue]
  worker:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec sleep 100000"]
    networks: [webnet]
    deploy:
      replicas: 2
  web:
    image: ${webImage}
    command:
      - sh
      - -c
      - |-
        ${WEB_CMD}
    ports: ["8000:80"]
    depends_on: [rabbit, worker]
    networks: [webnet]
    deploy:
      replicas: ${replicas}
      placement:
        constraints: [node.labels.role == web]
      update_config:
        parallelism: 1
        delay: 1s
        order: start-first
networks:
  webnet:
`;

const docker = new Docker({ socketPath: DOCKER_SOCKET });

type StackTask = TaskJson & { nodeName: string | null; image: string };

const tasksOf = async (m: Parameters<typeof cliJson>[0], stack: string) =>
  (await cliJson<StackTask[]>(m, ['stack', 'ps', stack])).filter(
    (t) => t.desiredState === 'running',
  );

/** Every node answers port 8000 with an answer its web task fetched from rabbit by name. */
async function everyNodeAnswers(): Promise<string[]> {
  const answers: string[] = [];
  for (const n of NODES) {
    const a = await get(n.address, 8000, 5_000, '/cgi-bin/q').then((r) =>
      r.ok ? r : get(n.address, 8000, 5_000, '/cgi-bin/q'),
    );
    if (!a.ok) return [];
    answers.push(a.body.trim());
  }
  return answers;
}

test(
  'stack deploy: by name across nodes, scale and roll by redeploy, --force, stack rm cleans up',
  { timeout: 420_000 },
  async (t) => {
    const cluster = await startDockerCluster(t, NODES, []);
    if (!cluster) return;
    const { manager: m } = cluster;
    t.after(() => removeLeftovers('myapp'));
    await docker.getImage(TEST_IMAGE).tag({ repo: 'fleet-test/busybox', tag: 'stack-v2' });
    t.after(() =>
      docker
        .getImage(IMAGE_V2)
        .remove()
        .catch(() => undefined),
    );
    const file = await composeFile(compose(3, TEST_IMAGE));
    const out = await deploy(m, file, 'myapp');
    assert.match(out, /Creating network myapp_webnet/);
    assert.match(out, /Creating service myapp_web/);

    let last: string[] = [];
    const answers = await waitFor(
      async () => {
        const a = (last = await everyNodeAnswers());
        return a.length === NODES.length && a.every((x) => /got rabbit-/.test(x)) ? a : null;
      },
      { what: 'port 8000 on every node answered through rabbit', timeoutMs: 90_000 },
    ).catch(async (e: unknown) => {
      const ps = await cli(m, ['stack', 'ps', 'myapp']);
      const probes = await Promise.all(NODES.map((n) => get(n.address, 8000, 5_000, '/cgi-bin/q')));
      last.push(JSON.stringify(probes));
      throw new Error(`${String(e)}; last answers ${JSON.stringify(last)}; ${ps.stdout}`);
    });
    const tasks = await tasksOf(m, 'myapp');
    const rabbitNode = tasks.find((x) => x.service === 'myapp_rabbit')?.nodeName;
    const webNodes = new Set(tasks.filter((x) => x.service === 'myapp_web').map((x) => x.nodeName));
    assert.equal(rabbitNode, 'stk-a');
    assert.ok(!webNodes.has('stk-a'), `rabbit runs on a node without web: ${answers.join(' | ')}`);

    await t.test('replicas 3 -> 5 scales web and restarts nothing else', async () => {
      const others = tasks.filter((x) => x.service !== 'myapp_web').map((x) => x.id);
      await deploy(m, await composeFile(compose(5, TEST_IMAGE)), 'myapp');
      const after = await waitFor(
        async () => {
          const now = await tasksOf(m, 'myapp');
          const web = now.filter((x) => x.service === 'myapp_web' && x.state === 'running');
          return web.length === 5 ? now : null;
        },
        { what: '5 web tasks running', timeoutMs: 60_000 },
      );
      const othersAfter = after.filter((x) => x.service !== 'myapp_web').map((x) => x.id);
      assert.deepEqual(othersAfter.sort(), others.sort(), 'rabbit and worker tasks unchanged');
    });

    await t.test('a new image rolls web with no failed request through the ingress', async () => {
      let failed = 0;
      let sent = 0;
      let stop = false;
      const load = (async () => {
        while (!stop) {
          for (const n of NODES) {
            const r = await get(n.address, 8000, 5_000, '/cgi-bin/q');
            sent++;
            if (!r.ok || !/got rabbit-/.test(r.body)) failed++;
          }
        }
      })();
      const before = (await tasksOf(m, 'myapp')).filter((x) => x.service === 'myapp_web');
      await deploy(m, await composeFile(compose(5, IMAGE_V2)), 'myapp');
      stop = true;
      await load;
      const web = (await tasksOf(m, 'myapp')).filter((x) => x.service === 'myapp_web');
      assert.equal(web.length, 5);
      assert.ok(web.every((x) => x.image === IMAGE_V2));
      assert.ok(
        web.every((x) => !before.some((b) => b.id === x.id)),
        'every web task replaced',
      );
      assert.ok(sent > 10, `requests were sent during the update (${sent})`);
      assert.equal(failed, 0, `${failed} of ${sent} requests failed during the update`);
    });

    await t.test('service update --force replaces every web task', async () => {
      const before = (await tasksOf(m, 'myapp')).filter((x) => x.service === 'myapp_web');
      await cliOk(m, ['service', 'update', '--force', 'myapp_web']);
      const after = (await tasksOf(m, 'myapp')).filter((x) => x.service === 'myapp_web');
      assert.equal(after.length, 5);
      assert.ok(after.every((x) => !before.some((b) => b.id === x.id)));
    });

    await t.test('stack rm leaves no container, network or volume behind', async () => {
      const r = await cli(m, ['stack', 'rm', 'myapp'], 120_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Removing service myapp_web/);
      await waitFor(async () => ((await leftovers('myapp')).length === 0 ? true : null), {
        what: 'no container, network or volume of myapp left',
        timeoutMs: 60_000,
      });
      assert.deepEqual(await cliJson(m, ['stack', 'ls']), []);
      assert.deepEqual(await cliJson(m, ['network', 'ls']), []);
    });
    await fs.rm(file, { force: true });
  },
);
