// Typed errors for image archives: each names what is wrong with the file so the user can fix it.

export type ImageArchiveProblem =
  | 'not-tar'
  | 'truncated'
  | 'not-image'
  | 'bad-json'
  | 'missing-blob'
  | 'digest-mismatch'
  | 'size-mismatch';

export class ImageArchiveError extends Error {
  constructor(
    readonly problem: ImageArchiveProblem,
    message: string,
  ) {
    super(message);
    this.name = 'ImageArchiveError';
  }
}

export function isImageArchiveError(e: unknown): e is ImageArchiveError {
  return e instanceof ImageArchiveError;
}
