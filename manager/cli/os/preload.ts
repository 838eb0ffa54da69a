// `--preload IMAGE` of `fleet os configure` and `os build`: the images taken from the local Docker engine (docker save), checked and hashed.
import Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { platformArch } from '../../../shared/arch.js';
import { errorMessage } from '../../../shared/errors.js';
import { preloadFileName, type PreloadEntry } from '../../../shared/preload-index.js';
import type { SavedImages } from '../../../firmware-images/preload.js';
import { formatBytes } from '../../../firmware-images/progress.js';

export const PRELOAD_OPTION = {
  preload: {
    type: 'string',
    array: true,
    nargs: 1,
    describe:
      'a container image from the local Docker engine to put on the boot partition, loaded by the board on first start (repeatable)',
  },
} as const;

/** What one image is, from `docker image inspect`. */
interface LocalImage {
  readonly ref: string;
  readonly id: string;
  readonly arch: string;
}

export interface SaveOptions {
  /** The board's architecture (arm64): an image of another one gets a warning. */
  readonly boardArch: string;
  /** Progress and warnings, one line each. */
  readonly log: (line: string) => void;
  /** The engine; by default the one DOCKER_HOST names, else the local socket. */
  readonly docker?: Docker;
}

/**
 * Saves `refs` from the local engine into a temporary folder beside `near`, runs `fn` with
 * them, and removes the folder. Every image is looked up before any is saved, so a missing one
 * fails before anything is written.
 */
export async function withSavedImages<T>(
  refs: readonly string[],
  near: string,
  opts: SaveOptions,
  fn: (saved: SavedImages) => Promise<T>,
): Promise<T> {
  const docker = opts.docker ?? new Docker();
  const images: LocalImage[] = [];
  for (const ref of [...new Set(refs)]) images.push(await lookUp(docker, ref));
  for (const img of images) {
    if (platformArch(img.arch) !== platformArch(opts.boardArch)) {
      opts.log(
        `warning: ${img.ref} is for ${img.arch}, the board is ${opts.boardArch}; ` +
          `its programs will not run there unless that is intended`,
      );
    }
  }
  const dir = await mkdtemp(path.join(path.dirname(path.resolve(near)), '.fleet-preload-'));
  try {
    const entries: PreloadEntry[] = [];
    const taken = new Set<string>(['index.json']);
    for (const img of images) {
      const file = preloadFileName(img.ref, taken);
      taken.add(file.toLowerCase());
      const entry = await saveImage(docker, img, path.join(dir, file));
      opts.log(`preload ${img.ref} (${img.arch}): ${formatBytes(entry.size)} as preload/${file}`);
      entries.push(entry);
    }
    return await fn({ dir, entries });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function lookUp(docker: Docker, ref: string): Promise<LocalImage> {
  try {
    const info = await docker.getImage(ref).inspect();
    return { ref, id: info.Id, arch: info.Architecture || 'unknown' };
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) {
      throw new Error(
        `--preload: the image ${ref} is not in the local Docker engine; ` +
          `docker pull or docker load it first`,
      );
    }
    throw new Error(`--preload: cannot ask the Docker engine about ${ref}: ${errorMessage(e)}`);
  }
}

/** `docker save` of one image into `file`, with its size and sha256. */
async function saveImage(docker: Docker, img: LocalImage, file: string): Promise<PreloadEntry> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    const tar = await docker.getImage(img.ref).get();
    await pipeline(
      tar,
      async function* (source: AsyncIterable<Buffer | string>) {
        for await (const chunk of source) {
          const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(b);
          size += b.length;
          yield b;
        }
      },
      createWriteStream(file),
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOSPC' ? 'no space left on the device' : errorMessage(e);
    throw new Error(`--preload: saving ${img.ref} failed: ${why}`);
  }
  return {
    ref: img.ref,
    file: path.basename(file),
    size,
    sha256: hash.digest('hex'),
    id: img.id,
    arch: img.arch,
  };
}
