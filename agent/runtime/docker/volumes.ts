// Named volumes a task mounts: created on this node when missing, and never removed with a container.
import type Docker from 'dockerode';
import { STACK_LABEL } from '../../../shared/network.js';
import type { MountSpec } from '../../../shared/spec.js';
import { statusOf } from './errors.js';

/** Marks volumes the agent created, so an operator can tell them from others. */
export const VOLUME_LABEL = 'fleet.volume';

/**
 * Creates each named volume the mounts use that the engine does not have yet, with its driver
 * and options. A volume that exists is left as it is: its data outlives every task that used it.
 */
export async function ensureVolumes(
  docker: Docker,
  mounts: readonly MountSpec[] | undefined,
  containerLabels: Readonly<Record<string, string>> = {},
): Promise<void> {
  // A stack's volumes carry its name, so the agent can remove them once the stack is gone.
  const stack = containerLabels[STACK_LABEL];
  for (const m of mounts ?? []) {
    if (m.type !== 'volume' || !m.source) continue;
    try {
      await docker.getVolume(m.source).inspect();
      continue;
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
    await docker.createVolume({
      Name: m.source,
      Driver: m.volumeDriver ?? 'local',
      DriverOpts: { ...m.volumeOptions },
      Labels: { [VOLUME_LABEL]: 'true', ...(stack ? { [STACK_LABEL]: stack } : {}) },
    });
  }
}
