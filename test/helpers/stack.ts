// Stack helpers for end-to-end tests: Compose files on disk, deploys, commands run inside task containers, leftovers.
import Docker from 'dockerode';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { cli, tempDir, type ManagerProc } from './cluster.js';
import { DOCKER_SOCKET } from './docker.js';

const docker = new Docker({ socketPath: DOCKER_SOCKET });
const STACK_LABEL = 'com.docker.stack.namespace';

/** Writes a Compose file into a fresh directory and returns its path. */
export async function composeFile(text: string, name = 'docker-compose.yml'): Promise<string> {
  const dir = tempDir('stack');
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

/** `fleet stack deploy`, which must succeed; its output. */
export async function deploy(
  m: ManagerProc,
  file: string,
  stack: string,
  extra: string[] = [],
): Promise<string> {
  const r = await cli(m, ['stack', 'deploy', '-c', file, ...extra, stack], 180_000);
  if (r.code !== 0)
    throw new Error(`stack deploy ${stack} failed (${r.code}): ${r.stderr.trim()} ${r.stdout}`);
  return r.stdout;
}

/** Runs a command in a running container of the service; its exit code and output. */
export async function execIn(
  service: string,
  cmd: string[],
): Promise<{ code: number; out: string }> {
  const list = await docker.listContainers({
    filters: { label: [`fleet.service.name=${service}`], status: ['running'] },
  });
  const first = list[0];
  if (!first) throw new Error(`no running container of ${service}`);
  const exec = await docker.getContainer(first.Id).exec({
    Cmd: cmd,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  docker.modem.demuxStream(stream, out, out);
  await new Promise<void>((resolve) => stream.on('end', () => resolve()));
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, out: text };
}

/** What the engine still holds of a stack: containers, networks and volumes labelled with it. */
export async function leftovers(stack: string): Promise<string[]> {
  const label = [`${STACK_LABEL}=${stack}`];
  const containers = await docker.listContainers({ all: true, filters: { label } });
  const networks = await docker.listNetworks({ filters: { label } });
  const volumes = (await docker.listVolumes({ filters: { label } })).Volumes ?? [];
  return [
    ...containers.map((c) => `container ${c.Names[0] ?? c.Id}`),
    ...networks.map((n) => `network ${n.Name}`),
    ...volumes.map((v) => `volume ${v.Name}`),
  ];
}

/** Removes whatever a failed test left of a stack on the engine. */
export async function removeLeftovers(stack: string): Promise<void> {
  const label = [`${STACK_LABEL}=${stack}`];
  for (const c of await docker.listContainers({ all: true, filters: { label } }))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  const fleetNets = await docker.listNetworks({ filters: { label: ['fleet.network'] } });
  const ofStack = fleetNets.filter((n) => n.Labels?.['fleet.network']?.startsWith(`${stack}_`));
  for (const n of [...(await docker.listNetworks({ filters: { label } })), ...ofStack])
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => undefined);
  for (const v of (await docker.listVolumes({ filters: { label } })).Volumes ?? [])
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => undefined);
}
