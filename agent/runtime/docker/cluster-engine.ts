// The Docker engine as the cluster-image fetcher sees it: which images and layers it holds, and loading from verified blobs.
import type Docker from 'dockerode';
import type { Clock } from '../../../shared/clock.js';
import type { AssignedImage } from '../../../shared/images/cluster-image.js';
import type { EngineImages } from '../../images/cluster-images.js';
import { layersEngineHas } from '../../images/engine-layers.js';
import { loadClusterImage } from '../../images/load-image.js';
import { statusOf } from './errors.js';

export function dockerEngineImages(docker: Docker, clock: Clock): EngineImages {
  const load = (image: AssignedImage, skipLayers: number, blobPath: (d: string) => string) =>
    loadClusterImage({
      docker,
      clock,
      image: image.platform,
      name: image.name,
      blobPath,
      skipLayers,
    }).then(() => undefined);
  return {
    hasImage: async (configDigest) => {
      try {
        return (await docker.getImage(configDigest).inspect()).Id === configDigest;
      } catch (e) {
        if (statusOf(e) === 404) return false;
        throw e;
      }
    },
    // The engine has the image: loading only points the name at it.
    tag: (image) => load(image, 0, () => ''),
    sharedLayers: (diffIds) => layersEngineHas(docker, diffIds),
    load,
  };
}
