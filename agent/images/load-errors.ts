// The ways loading a cluster image into the engine fails, each a problem code with a message naming the image.

export type ImageLoadProblem =
  /** A layer is zstd-compressed, which the engine's docker load (20.10) cannot read. */
  | 'zstd-layer'
  /** A blob the archive needs is not in the agent's blob store, or has the wrong size. */
  | 'missing-blob'
  /** The config blob does not match its digest or its rootfs.diff_ids disagree with the layers. */
  | 'bad-config'
  /** The name cannot be a tag: it names a digest. */
  | 'bad-name'
  /** The engine lost layers the archive left out (removed between the check and the load). */
  | 'layers-gone'
  /** docker load reported an error, e.g. a layer whose content does not match its diff ID. */
  | 'engine-refused'
  /** The load took longer than allowed. */
  | 'timeout'
  /** docker load ended without error but the engine has no image with the config's ID. */
  | 'not-loaded';

export class ImageLoadError extends Error {
  constructor(
    readonly problem: ImageLoadProblem,
    message: string,
  ) {
    super(message);
    this.name = 'ImageLoadError';
  }
}

export function isImageLoadError(e: unknown): e is ImageLoadError {
  return e instanceof ImageLoadError;
}
