// A cluster network's local bridge on the engine (made, found, removed) and the virtual addresses on its interface (iproute2).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { STACK_LABEL } from '../../shared/network.js';
import {
  bridgeInterfaceName,
  layoutOf,
  prefixOf,
  subnetCandidates,
  type BridgeLayout,
} from './plan.js';

const execFileP = promisify(execFile);

/** Labels of the bridges the agent makes: the node (so each agent finds its own) and the network. */
export const NETWORK_LABELS = { node: 'fleet.node.id', network: 'fleet.network' } as const;

export interface LocalBridge {
  /** The engine's network name (network.node). */
  name: string;
  /** The Linux interface, where the virtual addresses go. */
  iface: string;
  layout: BridgeLayout;
}

export interface BridgeRequest {
  name: string;
  network: string;
  nodeId: string;
  pool: string;
  stack?: string;
  internal: boolean;
}

/** The bridge as the engine has it, or null when it does not exist (or is not fleet's shape). */
export async function findBridge(docker: Docker, name: string): Promise<LocalBridge | null> {
  let info: Docker.NetworkInspectInfo;
  try {
    info = await docker.getNetwork(name).inspect();
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return null;
    throw e;
  }
  const subnet = info.IPAM?.Config?.[0]?.Subnet ?? '';
  const prefix = prefixOf(subnet);
  const iface = info.Options?.['com.docker.network.bridge.name'];
  if (!prefix || !iface) return null;
  return { name, iface, layout: layoutOf(prefix) };
}

/**
 * Makes the bridge in a free /24 of the pool. The engine refuses a subnet that overlaps one it
 * has ("Pool overlaps with other one on this address space"), which another agent may have
 * taken a moment ago: the next candidate is tried then.
 */
export async function createBridge(docker: Docker, req: BridgeRequest): Promise<LocalBridge> {
  const used = (await docker.listNetworks()).flatMap((n) =>
    (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? ''),
  );
  const iface = bridgeInterfaceName(req.name);
  const candidates = subnetCandidates(req.pool, req.name, used);
  for (const prefix of candidates.slice(0, 64)) {
    const layout = layoutOf(prefix);
    try {
      await docker.createNetwork({
        Name: req.name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Internal: req.internal,
        IPAM: {
          Driver: 'default',
          Config: [{ Subnet: layout.subnet, IPRange: layout.ipRange, Gateway: layout.gateway }],
        },
        Options: { 'com.docker.network.bridge.name': iface },
        Labels: {
          [NETWORK_LABELS.node]: req.nodeId,
          [NETWORK_LABELS.network]: req.network,
          ...(req.stack ? { [STACK_LABEL]: req.stack } : {}),
        },
      });
      return { name: req.name, iface, layout };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (/overlap/i.test(msg)) continue;
      // Another start of a task on the same network made it first.
      if ((e as { statusCode?: number }).statusCode === 409 || /already exists/i.test(msg)) {
        const found = await findBridge(docker, req.name);
        if (found) return found;
      }
      throw e;
    }
  }
  throw new Error(`no free /24 left in the network pool ${req.pool} for network ${req.network}`);
}

/** Removes the bridge; false when a container still uses it (the engine says so). */
export async function removeBridge(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getNetwork(name).remove();
    return true;
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 404) return true;
    if (status === 403 || /active endpoints/i.test(String(e))) return false;
    throw e;
  }
}

/** The bridges this agent made on the engine (after a restart: the ones to carry on with). */
export async function listOwnBridges(
  docker: Docker,
  nodeId: string,
): Promise<{ name: string; network: string }[]> {
  const list = await docker.listNetworks({
    filters: { label: [`${NETWORK_LABELS.node}=${nodeId}`, NETWORK_LABELS.network] },
  });
  return list.map((n) => ({ name: n.Name, network: n.Labels?.[NETWORK_LABELS.network] ?? '' }));
}

/** Whether any container (running or not) is connected to the network. */
export async function networkInUse(docker: Docker, name: string): Promise<boolean> {
  const list = await docker.listContainers({ all: true, filters: { network: [name] } });
  return list.length > 0;
}

/** Adds a /32 to the interface; already there is fine. */
export async function addAddress(address: string, iface: string): Promise<void> {
  await ip(['addr', 'add', `${address}/32`, 'dev', iface], /File exists/i);
}

/** Removes a /32 from the interface; already gone (or the interface gone) is fine. */
export async function deleteAddress(address: string, iface: string): Promise<void> {
  await ip(
    ['addr', 'del', `${address}/32`, 'dev', iface],
    /Cannot assign|Cannot find device|does not exist/i,
  );
}

/** The /32s fleet put on the interface (its virtual addresses), from `ip -o -4 addr show`. */
export async function listAddresses(iface: string): Promise<string[]> {
  const { stdout } = await ipOut(['-o', '-4', 'addr', 'show', 'dev', iface]);
  return [...stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/32/g)].map((m) => m[1] ?? '');
}

async function ip(args: string[], harmless: RegExp): Promise<void> {
  try {
    await ipOut(args);
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    if (harmless.test(stderr)) return;
    throw e;
  }
}

async function ipOut(args: string[]): Promise<{ stdout: string }> {
  try {
    return await execFileP('ip', args);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new Error(
        'the "ip" command (iproute2) is missing: networks need it to put virtual addresses on ' +
          'their bridges; install the iproute2 package',
      );
    throw Object.assign(new Error(`ip ${args.join(' ')}: ${err.stderr?.trim() || err.message}`), {
      stderr: err.stderr ?? '',
    });
  }
}
