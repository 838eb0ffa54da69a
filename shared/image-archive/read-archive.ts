// Reads a docker save or OCI layout tarball in one streaming pass and describes the images it holds.
import { createReadStream } from 'node:fs';
import { ArchiveFiles, MAX_JSON_BYTES } from './archive-files.js';
import type { ImageArchiveDescription } from './description.js';
import { describeDockerSave } from './docker-save.js';
import { ImageArchiveError } from './errors.js';
import { describeOciLayout } from './oci-layout.js';
import { scanTar } from './tar-reader.js';

export type { ImageArchiveDescription } from './description.js';

/** Reads the tarball at `file`. */
export function readImageArchiveFile(file: string): Promise<ImageArchiveDescription> {
  return readImageArchive(createReadStream(file, { highWaterMark: 256 * 1024 }));
}

/**
 * Reads an archive from a byte stream. Every blob's digest is computed from its bytes; files
 * named by digest must match it. Throws ImageArchiveError naming the problem.
 */
export async function readImageArchive(
  input: AsyncIterable<Buffer | Uint8Array | string>,
): Promise<ImageArchiveDescription> {
  const scanned = await scanTar(input, (name, size) => size <= MAX_JSON_BYTES && isMetadata(name));
  const files = new ArchiveFiles(scanned);
  files.verifyNamedBlobs();
  // Docker 25 and later write both; manifest.json carries the tags docker load restores.
  if (files.has('manifest.json')) {
    return { format: 'docker-save', images: describeDockerSave(files) };
  }
  if (files.has('index.json')) {
    return { format: 'oci-layout', images: describeOciLayout(files) };
  }
  throw new ImageArchiveError(
    'not-image',
    `not an image archive: no manifest.json or index.json among its ${scanned.length} files`,
  );
}

/** Files that may hold JSON: manifests, configs and indexes (OCI blobs are checked by content). */
function isMetadata(name: string): boolean {
  return (
    name.endsWith('.json') ||
    name === 'repositories' ||
    name === 'oci-layout' ||
    name.startsWith('blobs/') ||
    !name.includes('/')
  );
}
