// Removes the engine's networks and volumes of stacks that no longer exist, once no container uses them.
import type Docker from 'dockerode';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { STACK_LABEL } from '../../shared/network.js';
import { NETWORK_LABELS, networkInUse, removeBridge } from './bridge.js';
import { goneStacks } from './plan.js';

/** The label the Docker runtime puts on the volumes it makes (agent/runtime/docker/volumes.ts). */
const FLEET_VOLUME_LABEL = 'fleet.volume';

export interface PruneOptions {
  nodeId: string;
  /** The stacks the table lists: everything else labelled with a stack is gone. */
  stacks: readonly string[];
  /** Volumes too (the data of a removed stack), not only networks. */
  volumes: boolean;
  logger: Logger;
}

/**
 * Only what fleet made is touched: networks this node's agent made, and volumes the runtime made
 * (fleet's volume label). Other agents sharing the engine, and whatever an operator labelled by
 * hand, are left alone. A failure is logged; the next table tries again.
 */
export async function pruneGoneStacks(docker: Docker, opts: PruneOptions): Promise<void> {
  try {
    await pruneNetworks(docker, opts);
    if (opts.volumes) await pruneVolumes(docker, opts);
  } catch (e) {
    opts.logger.warn('could not remove what gone stacks left', { error: errorMessage(e) });
  }
}

async function pruneNetworks(docker: Docker, opts: PruneOptions): Promise<void> {
  const nets = await docker.listNetworks({
    filters: { label: [STACK_LABEL, `${NETWORK_LABELS.node}=${opts.nodeId}`] },
  });
  const gone = goneStacks(
    nets.map((n) => n.Labels?.[STACK_LABEL] ?? ''),
    opts.stacks,
  );
  for (const n of nets) {
    if (!gone.has(n.Labels?.[STACK_LABEL] ?? '')) continue;
    if (await networkInUse(docker, n.Name)) continue;
    if (await removeBridge(docker, n.Name))
      opts.logger.info('removed the network of a gone stack', {
        network: n.Name,
        stack: n.Labels?.[STACK_LABEL],
      });
  }
}

async function pruneVolumes(docker: Docker, opts: PruneOptions): Promise<void> {
  const res = await docker.listVolumes({ filters: { label: [STACK_LABEL, FLEET_VOLUME_LABEL] } });
  const vols = res.Volumes ?? [];
  const gone = goneStacks(
    vols.map((v) => v.Labels?.[STACK_LABEL] ?? ''),
    opts.stacks,
  );
  for (const v of vols) {
    if (!gone.has(v.Labels?.[STACK_LABEL] ?? '')) continue;
    const users = await docker.listContainers({ all: true, filters: { volume: [v.Name] } });
    if (users.length > 0) continue;
    try {
      await docker.getVolume(v.Name).remove();
      opts.logger.info('removed the volume of a gone stack', { volume: v.Name });
    } catch (e) {
      // In use after all (a container made meanwhile), or already gone: the next table decides.
      opts.logger.debug('kept a volume of a gone stack', {
        volume: v.Name,
        error: errorMessage(e),
      });
    }
  }
}
