// Loads the container images preloaded on a board's boot partition (preload/index.json) into the engine, each verified by its sha256.
import Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { defaultDockerHost } from '../../../shared/docker-host.js';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import {
  PRELOAD_DIR,
  PRELOAD_INDEX,
  parsePreloadIndex,
  type PreloadEntry,
  type PreloadIndex,
} from '../../../shared/preload-index.js';
import { dockerMessage, statusOf } from './errors.js';

export interface PreloadOptions {
  /** The folder holding preload/ (the boot partition, where fleet.json is). */
  readonly dir: string;
  readonly log: Logger;
  /** The engine the runtime uses; by default the one on the local socket. */
  readonly docker?: Docker;
}

export interface PreloadOutcome {
  /** References loaded now. */
  readonly loaded: string[];
  /** References the engine already had with the same image id. */
  readonly present: string[];
  /** Files not loaded, and why. */
  readonly skipped: { file: string; reason: string }[];
}

/**
 * Loads every image preload/index.json lists that the engine does not have yet. A tar whose
 * size or sha256 differs from the index is skipped with one log line; nothing here throws,
 * so the agent starts whatever the boot partition holds.
 */
export async function loadPreloadedImages(opts: PreloadOptions): Promise<PreloadOutcome> {
  const out: PreloadOutcome = { loaded: [], present: [], skipped: [] };
  const index = await readIndex(opts);
  if (index === null) return out;
  const docker = opts.docker ?? new Docker({ ...defaultDockerHost().options });
  const folder = path.join(opts.dir, PRELOAD_DIR);
  for (const entry of index.images) {
    const file = path.join(folder, entry.file);
    try {
      if (await hasImage(docker, entry)) {
        out.present.push(entry.ref);
        continue;
      }
      opts.log.info(`loading preloaded image ${entry.ref}`, { file, bytes: entry.size });
      const problem = await verify(file, entry);
      if (problem !== null) {
        opts.log.error(`preloaded image ${file} ${problem}; skipped`, { image: entry.ref });
        out.skipped.push({ file, reason: problem });
        continue;
      }
      await loadTar(docker, file);
      if (!(await hasImage(docker, { ...entry, id: '' }))) {
        throw new Error(`the tar does not hold ${entry.ref}`);
      }
      opts.log.info(`loaded preloaded image ${entry.ref}`);
      out.loaded.push(entry.ref);
    } catch (e) {
      const reason = `could not be loaded: ${dockerMessage(e)}`;
      opts.log.error(`preloaded image ${file} ${reason}; skipped`, { image: entry.ref });
      out.skipped.push({ file, reason });
    }
  }
  return out;
}

/** The index, or null when there is none (the usual case) or it cannot be read (logged). */
async function readIndex(opts: PreloadOptions): Promise<PreloadIndex | null> {
  const file = path.join(opts.dir, PRELOAD_DIR, PRELOAD_INDEX);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    opts.log.error(`cannot read ${file}: ${errorMessage(e)}; no image preloaded`);
    return null;
  }
  try {
    return parsePreloadIndex(text);
  } catch (e) {
    opts.log.error(`${file} is damaged (${errorMessage(e)}); no image preloaded`);
    return null;
  }
}

/** The engine has `entry.ref`, with `entry.id` when one is given ('' accepts any id). */
async function hasImage(docker: Docker, entry: Pick<PreloadEntry, 'ref' | 'id'>): Promise<boolean> {
  try {
    const info = await docker.getImage(entry.ref).inspect();
    return entry.id === '' || info.Id === entry.id;
  } catch (e) {
    if (statusOf(e) === 404) return false;
    throw e;
  }
}

/** Null when the file has the index's size and sha256, else what is wrong with it. */
export async function verify(file: string, entry: PreloadEntry): Promise<string | null> {
  let size: number;
  try {
    size = (await fs.stat(file)).size;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'is missing'
      : `cannot be read: ${errorMessage(e)}`;
  }
  if (size !== entry.size) {
    return `is truncated or corrupt: ${size} bytes, index.json says ${entry.size}`;
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const sha = hash.digest('hex');
  return sha === entry.sha256
    ? null
    : `is corrupt: sha256 ${sha.slice(0, 12)}…, index.json says ${entry.sha256.slice(0, 12)}…`;
}

/** `docker load` of one tar; an error the engine reports in its progress stream fails it. */
async function loadTar(docker: Docker, file: string): Promise<void> {
  const response = await docker.loadImage(createReadStream(file), { quiet: true });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      response,
      (err: Error | null, events: { error?: string; errorDetail?: { message?: string } }[]) => {
        if (err) return reject(err);
        const failed = events.find((ev) => ev.error ?? ev.errorDetail);
        if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
        resolve();
      },
    );
  });
}
