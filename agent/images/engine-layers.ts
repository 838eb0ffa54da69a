// Which leading layers of an image the engine already has, from the RootFS.Layers of the images it holds.
import type Docker from 'dockerode';
import { statusOf } from '../runtime/docker/errors.js';

/**
 * How many leading layers of `diffIds` (base first) the engine has: the longest common prefix
 * with any of its images' RootFS.Layers. Only a prefix counts, because the engine keys a layer
 * by its chain ID, which hashes the layer's diff ID with all the layers under it: the same
 * layer on top of a different base is a different layer to the engine.
 */
export function sharedLeadingLayers(
  diffIds: readonly string[],
  engineImages: Iterable<readonly string[]>,
): number {
  let best = 0;
  for (const layers of engineImages) {
    let n = 0;
    while (n < diffIds.length && n < layers.length && diffIds[n] === layers[n]) n++;
    if (n > best) best = n;
    if (best === diffIds.length) break;
  }
  return best;
}

/**
 * The RootFS.Layers of every image the engine holds, tagged or not (intermediate images
 * included). An image removed while the list is read is left out.
 */
export async function engineLayerLists(docker: Docker): Promise<string[][]> {
  const images = await docker.listImages({ all: true });
  const lists: string[][] = [];
  for (const summary of images) {
    const layers = await rootFsLayers(docker, summary.Id);
    if (layers !== null) lists.push(layers);
  }
  return lists;
}

/** sharedLeadingLayers against the engine, stopping at the first image that has them all. */
export async function layersEngineHas(docker: Docker, diffIds: readonly string[]): Promise<number> {
  if (diffIds.length === 0) return 0;
  const images = await docker.listImages({ all: true });
  let best = 0;
  for (const summary of images) {
    const layers = await rootFsLayers(docker, summary.Id);
    if (layers === null) continue;
    best = Math.max(best, sharedLeadingLayers(diffIds, [layers]));
    if (best === diffIds.length) break;
  }
  return best;
}

async function rootFsLayers(docker: Docker, id: string): Promise<string[] | null> {
  try {
    const info = await docker.getImage(id).inspect();
    return info.RootFS.Layers ?? [];
  } catch (e) {
    if (statusOf(e) === 404) return null;
    throw e;
  }
}
