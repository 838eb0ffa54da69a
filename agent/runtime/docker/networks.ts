// A task's cluster networks as container settings: the bridges it joins, the name server it asks, and the ports others reach it on.
import type Docker from 'dockerode';
import type { TaskTemplate } from '../../../shared/spec.js';
import { TaskRejectedError, type NetworkProvider } from '../types.js';
import { dockerMessage } from './errors.js';

/** How a task joins its networks: the first at create, the others before it starts. */
export interface NetworkJoin {
  mode: string;
  others: string[];
  /** The bridges' gateways: Docker's embedded DNS forwards names it does not know there. */
  dns: string[];
  /** "port/proto" keys every discoverable port: published targets, expose, the image's EXPOSE. */
  ports: string[];
}

/**
 * The bridges of the task's networks (made when missing), or null for a task on none. A bridge
 * that cannot be made rejects the task with the reason.
 */
export async function networkJoin(
  docker: Docker,
  provider: NetworkProvider | undefined,
  t: TaskTemplate,
  image: string,
): Promise<NetworkJoin | null> {
  const attachments = t.networks ?? [];
  if (attachments.length === 0) return null;
  if (!provider)
    throw new TaskRejectedError(
      'this agent cannot join networks: its runtime was made without network support',
    );
  const locals = [];
  for (const a of attachments) {
    try {
      locals.push(await provider.ensure(a.name));
    } catch (e) {
      throw new TaskRejectedError(
        `network ${a.name} could not be set up on this node: ${dockerMessage(e)}`,
      );
    }
  }
  const [first, ...rest] = locals;
  if (!first) return null;
  const ports = new Set<string>();
  for (const p of t.ports) ports.add(`${p.target}/${p.protocol}`);
  for (const p of t.expose ?? []) ports.add(`${p.port}/${p.protocol}`);
  for (const key of await imageExposedPorts(docker, image)) ports.add(key);
  return {
    mode: first.name,
    others: rest.map((l) => l.name),
    dns: [...new Set(locals.map((l) => l.gateway))],
    ports: [...ports],
  };
}

/**
 * Puts the join into create options: the network mode, the gateways first among the name
 * servers, and an ephemeral host port on the node's address for every discoverable port not
 * bound already, so the manager can list it as a backend on other nodes.
 */
export function applyJoin(
  options: Docker.ContainerCreateOptions,
  join: NetworkJoin,
  hostIp: string,
): void {
  const host = (options.HostConfig ??= {});
  host.NetworkMode = join.mode;
  const own = (host.Dns ?? []) as string[];
  host.Dns = [...join.dns, ...own.filter((d) => !join.dns.includes(d))];
  const exposed = (options.ExposedPorts ??= {});
  const bindings = (host.PortBindings ??= {}) as Record<string, unknown[]>;
  for (const key of join.ports) {
    exposed[key] = {};
    bindings[key] ??= [{ HostIp: hostIp, HostPort: '' }];
  }
}

/** Connects the created container to the task's other networks (before it starts). */
export async function connectOthers(
  docker: Docker,
  containerId: string,
  join: NetworkJoin,
): Promise<void> {
  for (const name of join.others) {
    await docker.getNetwork(name).connect({ Container: containerId });
  }
}

/** The image's EXPOSE ports ("80/tcp"); none when the image cannot be inspected. */
async function imageExposedPorts(docker: Docker, image: string): Promise<string[]> {
  try {
    const info = await docker.getImage(image).inspect();
    const keys = Object.keys(info.Config?.ExposedPorts ?? {});
    return keys.map((k) => (k.includes('/') ? k : `${k}/tcp`));
  } catch {
    return [];
  }
}
