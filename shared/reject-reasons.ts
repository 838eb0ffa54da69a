// Why a node refused a task, as a code: which refusals no retry on that node can cure, and what to do about each.

/**
 * Codes an agent puts on a rejected task. Optional on the wire: an older agent sends none, and a
 * rejection without a code is taken as one that may pass.
 */
export const REJECT_REASONS = [
  /** The image is not on the node and pulling it failed. */
  'image-unavailable',
  /** The image or its program is for another CPU architecture (exec format error). */
  'platform',
  /** The task's program is not in the image. */
  'missing-executable',
  /** A device the task maps does not exist on the node. */
  'missing-device',
  /** Not enough memory or disk now: may pass when other tasks leave. */
  'resources',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const PERMANENT: ReadonlySet<RejectReason> = new Set([
  'image-unavailable',
  'platform',
  'missing-executable',
  'missing-device',
]);

/** A refusal the same node will give again for the same spec, however long it retries. */
export const isPermanentReject = (code: RejectReason | undefined): boolean =>
  code !== undefined && PERMANENT.has(code);

/** What a user can do when every node refuses a task for this reason. */
export function rejectAdvice(code: RejectReason, image: string): string {
  switch (code) {
    case 'image-unavailable':
      return `push ${image} to a registry the boards reach, or load it on them (docker save | docker load)`;
    case 'platform':
      return `build ${image} for the boards' architecture (docker buildx build --platform linux/arm64,linux/arm/v7), or constrain the service to nodes of the image's (--constraint node.platform.arch==...)`;
    case 'missing-executable':
      return `check the command and the image's entrypoint: the program is not in ${image}`;
    case 'missing-device':
      return 'check that the device exists on the boards, or constrain the service to the boards that have it';
    case 'resources':
      return 'free memory or disk on the nodes, or lower the reservations';
  }
}

/** "none of the 2 suitable nodes can pull app:1", "the only suitable node cannot run app:1". */
export function rejectHeadline(code: RejectReason, image: string, nodes: number): string {
  const who =
    nodes === 1 ? 'the only suitable node cannot' : `none of the ${nodes} suitable nodes can`;
  return code === 'image-unavailable' ? `${who} pull ${image}` : `${who} run ${image}`;
}
