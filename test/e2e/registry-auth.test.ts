// End-to-end private registry: `service create --with-registry-auth` pulls with the CLI's Docker credentials and never shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import {
  cli,
  cliJson,
  cliOk,
  freePort,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import {
  DOCKER_SOCKET,
  TEST_IMAGE,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
} from '../helpers/docker.js';
import {
  HTPASSWD_BIN,
  REGISTRY_BIN,
  pushImage,
  requireTool,
  startRegistry,
  type RegistryUser,
} from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';
import type { ServiceDetail, TaskView } from '../../shared/api.js';

const docker = new Docker({ socketPath: DOCKER_SOCKET });
const USER: RegistryUser = {
  username: 'fleet-e2e',
  password: `pw-${randomBytes(12).toString('hex')}`,
};
/** The `auth` value of a Docker config entry: what would leak if the pair were logged whole. */
const BASIC = Buffer.from(`${USER.username}:${USER.password}`).toString('base64');
const DENIED = 'e2e-private-noauth';
const ALLOWED = 'e2e-private-auth';
/** What the engine says when a registry wants credentials it was not given. */
const AUTH_REFUSAL = /no basic auth credentials|unauthorized|authentication required/i;

/** A Docker config directory whose `auths` hold the user for the registry at addr. */
async function dockerConfigDir(addr: string): Promise<string> {
  const dir = tempDir('docker-config');
  const config = { auths: { [addr]: { auth: BASIC } } };
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  return dir;
}

/** Removes the image's tag and digest reference from the engine, so a task must pull it. */
async function forgetLocally(image: string, byDigest: string): Promise<void> {
  for (const ref of [image, byDigest]) {
    await docker
      .getImage(ref)
      .remove()
      .catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 404) throw e;
      });
  }
  await assert.rejects(docker.getImage(image).inspect(), { statusCode: 404 });
}

/** Every file under these paths (files or directories) that holds one of the secrets. */
async function filesHolding(
  paths: readonly string[],
  secrets: readonly string[],
): Promise<string[]> {
  const found: string[] = [];
  for (const p of paths) {
    const stat = await fs.stat(p).catch(() => null);
    if (!stat) continue;
    if (stat.isDirectory()) {
      const names = await fs.readdir(p);
      found.push(
        ...(await filesHolding(
          names.map((n) => path.join(p, n)),
          secrets,
        )),
      );
    } else if (stat.isFile()) {
      const bytes = await fs.readFile(p);
      if (secrets.some((s) => bytes.includes(s))) found.push(p);
    }
  }
  return found;
}

async function tasksOf(m: ManagerProc, service: string): Promise<TaskView[]> {
  return cliJson<TaskView[]>(m, ['service', 'ps', service]);
}

/** Without --with-registry-auth the board's pull is refused, and the user is told why. */
async function expectRefused(m: ManagerProc, image: string, env: NodeJS.ProcessEnv): Promise<void> {
  const args = ['service', 'create', '--name', DENIED, image, '--', 'sleep', '3600'];
  const r = await cli(m, args, 120_000, env);
  const said = `${r.stdout}\n${r.stderr}`;
  assert.notEqual(r.code, 0, `create without credentials must fail; it said: ${said}`);
  assert.match(said, /cannot converge: the only suitable node cannot pull /, said);
  assert.match(said, AUTH_REFUSAL, said);
  const rejected = (await tasksOf(m, DENIED)).filter((t) => t.state === 'rejected');
  assert.ok(rejected.length > 0, 'service ps lists the rejected task');
  for (const t of rejected) {
    assert.equal(t.reasonCode, 'image-unavailable');
    assert.match(t.error ?? '', /pull failed/);
    assert.match(t.error ?? '', AUTH_REFUSAL);
  }
  await cliOk(m, ['service', 'rm', DENIED]);
}

/** With --with-registry-auth the board pulls the image by the CLI's credentials and runs it. */
async function expectPulled(
  m: ManagerProc,
  image: string,
  digest: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const args = ['service', 'create', '--with-registry-auth', '--name', ALLOWED, image];
  const r = await cli(m, [...args, '--', 'sleep', '3600'], 120_000, env);
  assert.equal(r.code, 0, `create with credentials failed: ${r.stdout}\n${r.stderr}`);
  const task = await waitFor(
    async () => (await tasksOf(m, ALLOWED)).find((t) => t.state === 'running') ?? null,
    { what: 'the task of the service with credentials running', timeoutMs: 60_000 },
  );
  assert.equal(task.digest, digest, 'the task runs what the registry holds');
  const local = await docker.getImage(image).inspect();
  assert.ok(
    (local.RepoDigests ?? []).some((d) => d.endsWith(`@${digest}`)),
    `the engine pulled the image: ${JSON.stringify(local.RepoDigests)}`,
  );
}

/** `service inspect`, as text and as JSON, says credentials are there but never shows them. */
async function expectInspectQuiet(m: ManagerProc): Promise<void> {
  const detail = await cliJson<ServiceDetail>(m, ['service', 'inspect', ALLOWED]);
  assert.equal(detail.withRegistryAuth, true);
  const outputs = [
    await cliOk(m, ['service', 'inspect', ALLOWED]),
    await cliOk(m, ['service', 'inspect', ALLOWED, '--format', 'json']),
  ];
  for (const out of outputs) {
    assert.ok(!out.includes(USER.password), 'service inspect shows the password');
    assert.ok(!out.includes(BASIC), 'service inspect shows the encoded credentials');
  }
}

test('a private image runs with --with-registry-auth, is refused without it, and the password is never shown', async (t) => {
  if (
    !requireTool(t, REGISTRY_BIN, 'docker-registry') ||
    !requireTool(t, HTPASSWD_BIN, 'apache2-utils') ||
    !(await requireDocker(t))
  )
    return;
  await ensureTestImage();
  const addr = `127.0.0.1:${await freePort()}`;
  const repo = `${addr}/fleet-e2e/private`;
  const image = `${repo}:latest`;
  const registry = await startRegistry(t, addr, USER);
  const procs: { manager?: ManagerProc; agent?: AgentProc; nodeId?: string } = {};
  t.after(async () => {
    const m = procs.manager;
    for (const s of [DENIED, ALLOWED]) if (m) await cli(m, ['service', 'rm', s]).catch(() => null);
    if (procs.agent) await stopProc(procs.agent.proc);
    if (m) await stopProc(m.proc);
    if (procs.nodeId) await cleanupContainers(procs.nodeId);
    await docker
      .getImage(image)
      .remove()
      .catch(() => undefined);
  });

  await docker.getImage(TEST_IMAGE).tag({ repo, tag: 'latest' });
  await assert.rejects(pushImage(docker, image, addr), AUTH_REFUSAL, 'an anonymous push');
  const digest = await pushImage(docker, image, addr, USER);
  await forgetLocally(image, `${repo}@${digest}`);
  const env = { DOCKER_CONFIG: await dockerConfigDir(addr) };

  const m = await startManager({ host: '127.0.0.140' });
  procs.manager = m;
  procs.agent = startAgent({
    manager: m.address,
    token: m.workerToken,
    name: 'private-1',
    address: '127.0.0.141',
    runtime: 'docker',
  });
  procs.nodeId = (await waitForNodes(m, 1))[0]?.id;

  await expectRefused(m, image, env);
  await expectPulled(m, image, digest, env);
  await expectInspectQuiet(m);

  // Logs are written at debug level; the data directories hold the credentials only encrypted.
  const leaked = await filesHolding(
    [m.log, procs.agent.log, m.dataDir, procs.agent.dataDir],
    [USER.password, BASIC],
  );
  assert.deepEqual(leaked, [], 'files of the manager or agent that hold the password');
  assert.ok((await fs.readFile(m.log, 'utf8')).length > 0, 'the manager wrote a log');
  assert.ok((await fs.readFile(procs.agent.log, 'utf8')).length > 0, 'the agent wrote a log');
  await registry.stop();
});
