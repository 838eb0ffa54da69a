// Docker helpers for tests: engine detection (skip locally, fail in CI), the busybox test image, cleanup.
import Docker from 'dockerode';
import { execFile, spawn } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseDockerHost } from '../../shared/docker-host.js';

const execFileP = promisify(execFile);

export const DOCKER_SOCKET = '/var/run/docker.sock';
/** Bump the tag whenever the image's content changes (engines keep the old one cached). */
export const TEST_IMAGE = 'fleet-test/busybox:3';

/** The C sources of the image's test programs (under test/fixtures; resolved from dist/). */
const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../test/fixtures',
);
/** Test programs compiled statically into the image's /bin: what busybox cannot do (UDP, PROXY). */
const PROGRAMS = ['udp-echo', 'proxy-echo'];

const APPLETS = [
  'sh',
  'httpd',
  'sleep',
  'echo',
  'cat',
  'nc',
  'wget',
  'ls',
  'env',
  'true',
  'false',
  'kill',
  'mkdir',
  'chmod',
  'touch',
  'nslookup',
];
const IMAGE_CMD = 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]';

/** Resolves true when the engine answers a ping on the default socket within 3 s. */
export async function dockerAvailable(): Promise<boolean> {
  return (await dockerProblem()) === null;
}

/** Why Docker cannot be used, or null when it can. */
async function dockerProblem(): Promise<string | null> {
  if (!existsSync(DOCKER_SOCKET)) return `${DOCKER_SOCKET} does not exist`;
  const docker = new Docker({ socketPath: DOCKER_SOCKET, timeout: 3000 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('ping timed out after 3 s'), 3000);
  });
  const ping = docker.ping().then(
    () => null,
    (e: unknown) => `ping failed: ${e instanceof Error ? e.message : String(e)}`,
  );
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Skips the test when no engine is reachable, except in CI (or with FLEET_REQUIRE_DOCKER),
 * where a missing engine must fail loudly instead of passing as a silent skip.
 */
export async function requireDocker(t: TestContext): Promise<boolean> {
  const problem = await dockerProblem();
  if (problem === null) return true;
  if (process.env.CI || process.env.FLEET_REQUIRE_DOCKER) {
    throw new Error(`Docker engine required in CI but not reachable: ${problem}`);
  }
  t.skip(`no Docker engine: ${problem}`);
  return false;
}

let building: Promise<string> | null = null;

/**
 * Builds the test image from the host's static busybox and the test programs (compiled with
 * the host's C compiler) unless it already exists.
 */
export function ensureTestImage(): Promise<string> {
  building ??= buildTestImage().catch((e: unknown) => {
    building = null; // a later call may retry after a transient failure
    throw e;
  });
  return building;
}

async function buildTestImage(): Promise<string> {
  if (await imageExists(TEST_IMAGE)) return TEST_IMAGE;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-rootfs-'));
  // Other test processes may build at the same moment: each imports under its own tag and
  // then retags, which is atomic on the engine, so nobody sees a half-built image.
  const tempTag = `fleet-test/busybox:build-${process.pid}-${Date.now()}`;
  try {
    await writeRootfs(root);
    await importRootfs(root, tempTag);
    await execFileP('docker', ['tag', tempTag, TEST_IMAGE]);
  } finally {
    await execFileP('docker', ['rmi', tempTag]).catch(() => undefined);
    await fs.rm(root, { recursive: true, force: true });
  }
  return TEST_IMAGE;
}

async function imageExists(tag: string): Promise<boolean> {
  try {
    await execFileP('docker', ['image', 'inspect', tag]);
    return true;
  } catch {
    return false;
  }
}

async function findBusybox(): Promise<string> {
  if (existsSync('/bin/busybox')) return '/bin/busybox';
  try {
    const { stdout } = await execFileP('which', ['busybox']);
    if (stdout.trim()) return stdout.trim();
  } catch {
    // fall through to the error below
  }
  throw new Error('busybox not found: install Debian package busybox-static');
}

/**
 * Compiles test/fixtures/<name>.c into a static binary at out. A missing compiler or a missing
 * static libc fails with the Debian packages to install.
 */
async function compileProgram(name: string, out: string): Promise<void> {
  const src = path.join(FIXTURES, `${name}.c`);
  try {
    await execFileP('cc', ['-static', '-O2', '-Wall', '-o', out, src]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new Error(
        `building ${TEST_IMAGE}: no C compiler (cc) found to build ${name}: ` +
          'install Debian packages gcc and libc6-dev',
      );
    throw new Error(
      `building ${TEST_IMAGE}: cc -static failed for ${name}.c ` +
        `(a static libc comes with Debian package libc6-dev): ${err.stderr?.trim() ?? err.message}`,
    );
  }
}

async function writeRootfs(root: string): Promise<void> {
  const bin = path.join(root, 'bin');
  await fs.mkdir(bin);
  await fs.copyFile(await findBusybox(), path.join(bin, 'busybox'));
  await fs.chmod(path.join(bin, 'busybox'), 0o755);
  for (const applet of APPLETS) await fs.symlink('busybox', path.join(bin, applet));
  for (const program of PROGRAMS) await compileProgram(program, path.join(bin, program));
  await fs.mkdir(path.join(root, 'www'));
  await fs.writeFile(path.join(root, 'www', 'index.html'), 'fleet-test ok\n');
  await fs.mkdir(path.join(root, 'tmp'));
  await fs.chmod(path.join(root, 'tmp'), 0o1777);
}

/** Streams `tar -C root -c .` into `docker import`. */
function importRootfs(root: string, tag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', root, '--numeric-owner', '-c', '.'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const imp = spawn('docker', ['import', '--change', IMAGE_CMD, '-', tag], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    imp.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    tar.stdout.pipe(imp.stdin);
    tar.on('error', reject);
    imp.on('error', reject);
    imp.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`docker import failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

/**
 * Force-removes every container labelled with this node id, on the main engine or the one
 * dockerHost names; safe to call when there are none, or when that engine's socket is gone
 * (an extra engine removes its containers when it stops).
 */
export async function cleanupContainers(nodeId: string, dockerHost?: string): Promise<void> {
  const engine = dockerHost === undefined ? null : parseDockerHost(dockerHost);
  if (engine && 'socketPath' in engine.options && !existsSync(engine.options.socketPath)) return;
  const docker = engine
    ? new Docker({ ...engine.options })
    : new Docker({ socketPath: DOCKER_SOCKET });
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`fleet.node.id=${nodeId}`] },
  });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

/** A fleet task's container as the engine sees it. */
export interface TaskContainer {
  id: string;
  taskId: string;
  nodeId: string;
  slot: string;
  service: string;
  running: boolean;
  startedAt: string;
  restartCount: number;
}

/**
 * The containers of a service (of one node, when given), inspected, sorted by id: running ones,
 * or all of them.
 */
export async function taskContainers(
  service: string,
  opts: {
    nodeId?: string;
    all?: boolean;
    /** An extra engine's socket instead of the main one. */ socket?: string;
  } = {},
): Promise<TaskContainer[]> {
  const docker = new Docker({ socketPath: opts.socket ?? DOCKER_SOCKET });
  const label = [`fleet.service.name=${service}`];
  if (opts.nodeId) label.push(`fleet.node.id=${opts.nodeId}`);
  const list = await docker.listContainers({ all: opts.all === true, filters: { label } });
  const out: TaskContainer[] = [];
  for (const c of list) {
    const info = await docker
      .getContainer(c.Id)
      .inspect()
      .catch(() => null);
    if (!info) continue;
    const labels = info.Config.Labels ?? {};
    out.push({
      id: info.Id,
      taskId: labels['fleet.task.id'] ?? '',
      nodeId: labels['fleet.node.id'] ?? '',
      slot: labels['fleet.slot'] ?? '',
      service: labels['fleet.service.name'] ?? '',
      running: info.State.Running,
      startedAt: info.State.StartedAt,
      restartCount: info.RestartCount,
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
