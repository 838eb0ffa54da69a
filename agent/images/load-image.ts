// Loads a cluster image from the agent's blob store into the Docker engine, verified by image ID and tagged only when whole.
import type Docker from 'dockerode';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { parseImageReference } from '../../shared/image-ref.js';
import type { ClusterPlatformImage } from '../../shared/images/cluster-image.js';
import { statusOf } from '../runtime/docker/errors.js';
import { layersEngineHas } from './engine-layers.js';
import { openLoadArchive, type LoadArchive } from './load-archive.js';
import { ImageLoadError } from './load-errors.js';

export interface LoadImageOptions {
  docker: Docker;
  clock: Clock;
  image: ClusterPlatformImage;
  /** The name to point at the image (`repo:tag`, `repo` meaning `:latest`); null for none. */
  name: string | null;
  /** The file holding a stored blob (BlobStore.pathOf). */
  blobPath: (digest: string) => string;
  /** Leading layers the engine has; asked of the engine (engine-layers.ts) when absent. */
  skipLayers?: number;
  /** How long docker load may take; 10 minutes by default. */
  timeoutMs?: number;
}

export interface LoadImageResult {
  /** The image ID: the config digest. */
  id: string;
  /** The tag that now points at it, or null when none was asked for. */
  tag: string | null;
  /** False when the engine already had the image and only the tag was (re)set. */
  loaded: boolean;
  /** Layer files left out of the archive because the engine had them. */
  skippedLayers: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * Makes the engine hold the image under its config digest, with `name` pointing at it. docker
 * load moves the tag only after every layer was registered and matched its diff ID, so a
 * failed load leaves the name on whatever image it named before. Throws ImageLoadError.
 */
export async function loadClusterImage(opts: LoadImageOptions): Promise<LoadImageResult> {
  const { docker, image } = opts;
  const tag = opts.name === null ? null : tagOf(opts.name);
  const who = tag ?? image.configDigest;
  if (await hasImage(docker, image.configDigest)) {
    if (tag !== null) await pointTag(docker, image.configDigest, tag);
    return { id: image.configDigest, tag, loaded: false, skippedLayers: 0 };
  }
  const diffIds = image.layers.map((l) => l.diffId);
  const skip = opts.skipLayers ?? (await layersEngineHas(docker, diffIds));
  const archive = await openLoadArchive({ image, tag, blobPath: opts.blobPath, skipLayers: skip });
  const failure = await runLoad(docker, opts.clock, archive, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  if (failure !== null) throw refusal(who, failure, skip);
  if (!(await hasImage(docker, image.configDigest))) {
    throw new ImageLoadError(
      'not-loaded',
      `docker load of ${who} ended without error but the engine has no image ${image.configDigest}`,
    );
  }
  if (tag !== null) await pointTag(docker, image.configDigest, tag);
  return { id: image.configDigest, tag, loaded: true, skippedLayers: skip };
}

/** `repo:tag` for docker load's RepoTags; a digest reference cannot be a tag. */
export function tagOf(name: string): string {
  const ref = parseImageReference(name);
  if (ref.digest !== null || ref.tag === null) {
    throw new ImageLoadError(
      'bad-name',
      `cannot tag a loaded image as ${name}: a name with a digest is not a tag`,
    );
  }
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.trim() : `${name.trim()}:${ref.tag}`;
}

/**
 * Sends the archive and reads docker load's JSON lines to their end. Resolves the engine's
 * error message, or null when it reported none; rejects on a timeout or a broken connection.
 */
function runLoad(
  docker: Docker,
  clock: Clock,
  archive: LoadArchive,
  timeoutMs: number,
): Promise<string | null> {
  return new Promise<string | null>((resolve, reject) => {
    let response: NodeJS.ReadableStream | null = null;
    const abort = new AbortController();
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      fn();
    };
    const timer = clock.setTimeout(() => {
      finish(() =>
        reject(
          new ImageLoadError(
            'timeout',
            `docker load of ${archive.manifest[0]?.RepoTags[0] ?? 'an image'} took more than ${timeoutMs} ms; cancelled`,
          ),
        ),
      );
      abort.abort(); // ends the request, so the engine drops the half-sent archive
      archive.stream.destroy();
      (response as { destroy?: () => void } | null)?.destroy?.();
    }, timeoutMs);
    let archiveError: unknown = null;
    archive.stream.on('error', (e) => (archiveError ??= e));
    docker.loadImage(archive.stream, { quiet: true, abortSignal: abort.signal }).then(
      async (res) => {
        response = res;
        try {
          const message = await engineError(res);
          finish(() => (archiveError === null ? resolve(message) : reject(asError(archiveError))));
        } catch (e) {
          finish(() => reject(asError(archiveError ?? e)));
        }
      },
      (e: unknown) => finish(() => reject(asError(archiveError ?? e))),
    );
  });
}

/** The first `error`/`errorDetail` of docker load's output lines, or null. */
async function engineError(res: NodeJS.ReadableStream): Promise<string | null> {
  let text = '';
  for await (const chunk of res) text += chunk.toString();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let parsed: { error?: unknown; errorDetail?: { message?: unknown } };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      continue; // not JSON: progress text that says nothing about failure
    }
    const detail = parsed.errorDetail?.message;
    if (typeof detail === 'string') return detail;
    if (typeof parsed.error === 'string') return parsed.error;
  }
  return null;
}

function refusal(who: string, message: string, skipped: number): ImageLoadError {
  // A layer left out that the engine no longer has: docker load finds no file for it and
  // falls back to its pre-1.10 format, which then misses its `repositories` file.
  if (skipped > 0 && /no such file or directory/.test(message)) {
    return new ImageLoadError(
      'layers-gone',
      `docker load of ${who} failed: the engine no longer has the ${skipped} base layer(s) left out of the archive (${message}); load again with every layer`,
    );
  }
  return new ImageLoadError('engine-refused', `docker load of ${who} refused: ${message}`);
}

async function hasImage(docker: Docker, id: string): Promise<boolean> {
  try {
    const info = await docker.getImage(id).inspect();
    return info.Id === id;
  } catch (e) {
    if (statusOf(e) === 404) return false;
    throw e;
  }
}

/** Points `tag` at the image unless it already does. */
async function pointTag(docker: Docker, id: string, tag: string): Promise<void> {
  let current: string | null = null;
  try {
    current = (await docker.getImage(tag).inspect()).Id;
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
  if (current === id) return;
  const colon = tag.lastIndexOf(':');
  await docker.getImage(id).tag({ repo: tag.slice(0, colon), tag: tag.slice(colon + 1) });
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(errorMessage(e));
}
