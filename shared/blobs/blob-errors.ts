// Typed errors of the blob store, each saying what a client can do next (resume, retry, free space).

export type BlobStoreProblem =
  | 'invalid-digest'
  | 'wrong-offset'
  | 'digest-mismatch'
  | 'disk-full'
  | 'not-found'
  /** The range asked for is past what an upload under way holds so far: ask again later. */
  | 'not-yet';

export class BlobStoreError extends Error {
  constructor(
    readonly problem: BlobStoreProblem,
    message: string,
    /** For wrong-offset and disk-full: the bytes the upload holds, where a client resumes. */
    readonly uploadedBytes?: number,
  ) {
    super(message);
    this.name = 'BlobStoreError';
  }
}

export function isBlobStoreError(e: unknown, problem?: BlobStoreProblem): e is BlobStoreError {
  return e instanceof BlobStoreError && (problem === undefined || e.problem === problem);
}
