// Image references as Docker reads them: registry, repository, tag and digest, and digests found in RepoDigests.

/** A content digest as registries give it: sha256 and 64 hex digits. */
export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export interface ImageReference {
  /** Where the image lives: "docker.io" when the name has no registry part. */
  registry: string;
  /** The repository as Docker shows it, with its registry unless that is Docker Hub. */
  repository: string;
  /** null when the reference names a digest only; "latest" when it names neither. */
  tag: string | null;
  digest: string | null;
}

const DOCKER_HUB = 'docker.io';

/**
 * Splits a reference: the first path part is a registry when it has a dot or a port or is
 * "localhost" (Docker's rule); otherwise the image is on Docker Hub.
 */
export function parseImageReference(image: string): ImageReference {
  let rest = image.trim();
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (tag === null && digest === null) tag = 'latest';
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const hasRegistry =
    slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : DOCKER_HUB;
  return { registry, repository: familiar(rest), tag, digest };
}

/** True when the reference pins content (name@sha256:…): it never moves, so it is never pulled again. */
export const isDigestReference = (image: string): boolean =>
  parseImageReference(image).digest !== null;

/**
 * The digest of this image's repository among an image's RepoDigests ("repo@sha256:…"), or
 * null when the image never came from that repository's registry (built or imported locally).
 */
export function digestFromRepoDigests(
  image: string,
  repoDigests: readonly string[],
): string | null {
  const want = parseImageReference(image).repository;
  for (const rd of repoDigests) {
    const at = rd.lastIndexOf('@');
    if (at < 0) continue;
    const digest = rd.slice(at + 1);
    if (familiar(rd.slice(0, at)) === want && DIGEST_RE.test(digest)) return digest;
  }
  return null;
}

/** The reference that names exactly this content: repository@digest. */
export const pinnedReference = (image: string, digest: string): string =>
  `${parseImageReference(image).repository}@${digest}`;

/** The same name Docker prints: without "docker.io/" and "library/". */
function familiar(repo: string): string {
  let r = repo;
  if (r.startsWith(`${DOCKER_HUB}/`)) r = r.slice(DOCKER_HUB.length + 1);
  if (r.startsWith('index.docker.io/')) r = r.slice('index.docker.io/'.length);
  if (r.startsWith('library/') && r.split('/').length === 2) r = r.slice('library/'.length);
  return r;
}
