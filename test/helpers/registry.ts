// A Debian docker-registry on loopback for end-to-end tests, optionally behind htpasswd auth, and pushes to it.
import type { TestContext } from 'node:test';
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type Docker from 'dockerode';
import { stopProc, tempDir } from './cluster.js';
import { waitFor } from './wait.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const HTPASSWD_BIN = '/usr/bin/htpasswd';

/** True when the program exists; else a clear failure in CI and a skip elsewhere. */
export function requireTool(t: TestContext, bin: string, pkg: string): boolean {
  if (existsSync(bin)) return true;
  const why = `${bin} not found: install Debian's ${pkg} package (apt-get install -y ${pkg})`;
  if (process.env.CI) throw new Error(why);
  t.skip(why);
  return false;
}

export interface RegistryUser {
  username: string;
  password: string;
}

export interface Registry {
  /** Where the registry writes its own log. */
  log: string;
  stop(): Promise<void>;
}

/** One bcrypt line of an htpasswd file, the password read from stdin. */
function htpasswdLine(user: RegistryUser): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(HTPASSWD_BIN, ['-B', '-i', '-n', user.username], (err, stdout) =>
      err ? reject(new Error(`htpasswd failed: ${err.message}`)) : resolve(stdout.trim()),
    );
    child.stdin?.end(user.password);
  });
}

/**
 * Runs a registry on `addr` with its storage in a temporary directory, until the test ends.
 * With a user, every request needs that user's basic auth (htpasswd, bcrypt).
 */
export async function startRegistry(
  t: TestContext,
  addr: string,
  user?: RegistryUser,
): Promise<Registry> {
  return startRegistryProcess(addr, user, (stop) => t.after(stop));
}

/**
 * The same registry for callers without a test context (benchmarks): the caller stops it.
 * onStarted receives stop as soon as the process exists, so a failed start is cleaned up too.
 */
export async function startRegistryProcess(
  addr: string,
  user?: RegistryUser,
  onStarted: (stop: () => Promise<void>) => void = () => undefined,
): Promise<Registry> {
  const dir = tempDir('registry');
  const config = path.join(dir, 'config.yml');
  const lines = ['version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:'];
  lines.push(`    rootdirectory: ${path.join(dir, 'data')}`, '  delete:', '    enabled: true');
  lines.push('http:', `  addr: ${addr}`);
  if (user) {
    const file = path.join(dir, 'htpasswd');
    await fs.writeFile(file, `${await htpasswdLine(user)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: fleet-test', `    path: ${file}`);
  }
  await fs.writeFile(config, `${lines.join('\n')}\n`);
  const log = path.join(dir, 'registry.log');
  const out = await fs.open(log, 'a');
  const proc = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', out.fd, out.fd] });
  const stop = async (): Promise<void> => {
    await stopProc(proc);
    await out.close().catch(() => undefined);
  };
  onStarted(stop);
  // Behind auth, /v2/ answers 401 until a client presents the credentials.
  const ready = user ? 401 : 200;
  await waitFor(() => getStatus(`http://${addr}/v2/`).then((s) => s === ready), {
    what: `the registry to answer /v2/ with ${ready}`,
    timeoutMs: 15_000,
    intervalMs: 100,
  });
  return { log, stop };
}

export function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

/** Pushes a local image to the registry of `addr` and resolves with the digest it was given. */
export async function pushImage(
  docker: Docker,
  image: string,
  addr: string,
  user: RegistryUser = { username: '', password: '' },
): Promise<string> {
  const stream = await docker.getImage(image).push({
    authconfig: { ...user, serveraddress: addr },
  });
  const events = await new Promise<unknown[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: unknown[]) =>
      err ? reject(err) : resolve(res),
    ),
  );
  for (const e of events) {
    const ev = e as { error?: string; aux?: { Digest?: string } };
    if (ev.error) throw new Error(`push failed: ${ev.error}`);
    if (ev.aux?.Digest) return ev.aux.Digest;
  }
  throw new Error('the push reported no digest');
}
