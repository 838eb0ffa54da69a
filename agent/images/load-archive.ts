// Streams a docker-save tarball of a cluster image from blob files on disk, leaving out the layers the engine already has.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { tarChunks, tarSize, type TarSource } from '../../shared/image-archive/tar-writer.js';
import type { ClusterLayer, ClusterPlatformImage } from '../../shared/images/cluster-image.js';
import { ImageLoadError } from './load-errors.js';

export interface LoadArchiveOptions {
  image: ClusterPlatformImage;
  /** `repo:tag` that docker load points at the image; null loads it untagged. */
  tag: string | null;
  /** The file holding a stored blob (BlobStore.pathOf). */
  blobPath: (digest: string) => string;
  /**
   * How many leading layers the engine already has (engine-layers.ts). Their files are left
   * out: docker load looks a layer up by its chain ID and reads its file only when missing.
   */
  skipLayers?: number;
}

/** One entry of docker save's manifest.json. */
export interface DockerLoadManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export interface LoadArchive {
  manifest: DockerLoadManifestEntry[];
  /** Layer files in the archive (the rest are left out). */
  layerFiles: number;
  /** Bytes the stream will yield. */
  bytes: number;
  stream: Readable;
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * Checks every blob the archive needs (present, right size, not zstd; the config's digest and
 * its rootfs.diff_ids) and returns the archive as a stream that reads the layer files as it
 * goes. Gzip layers go in as they are: docker load decompresses them (Docker 20.10 knows gzip,
 * bzip2 and xz). Zstd layers are refused here, as 20.10 would fail with "unexpected EOF".
 */
export async function openLoadArchive(opts: LoadArchiveOptions): Promise<LoadArchive> {
  const { image } = opts;
  const who = opts.tag ?? image.configDigest;
  const skip = opts.skipLayers ?? 0;
  if (!Number.isInteger(skip) || skip < 0 || skip > image.layers.length) {
    throw new RangeError(`skipLayers must be 0..${image.layers.length}, got ${skip}`);
  }
  const config = await readConfig(opts, who);
  const manifest: DockerLoadManifestEntry[] = [
    {
      Config: `${hexOf(image.configDigest)}.json`,
      RepoTags: opts.tag === null ? [] : [opts.tag],
      Layers: image.layers.map((l) => layerFile(l)),
    },
  ];
  const manifestJson = Buffer.from(JSON.stringify(manifest));
  const entries: TarSource[] = [
    { kind: 'file', name: 'manifest.json', size: manifestJson.length, body: manifestJson },
    { kind: 'file', name: manifest[0]?.Config ?? '', size: config.length, body: config },
  ];
  const written = new Set<string>();
  for (const layer of image.layers.slice(skip)) {
    const name = layerFile(layer);
    if (written.has(name)) continue; // the same blob twice in one image: one file serves both
    written.add(name);
    const file = opts.blobPath(layer.digest);
    await checkLayer(file, layer, who);
    entries.push({ kind: 'directory', name: name.slice(0, name.indexOf('/')) });
    entries.push({
      kind: 'file',
      name,
      size: layer.size,
      body: () => createReadStream(file, { highWaterMark: 256 * 1024 }),
    });
  }
  return {
    manifest,
    layerFiles: written.size,
    bytes: tarSize(entries),
    stream: Readable.from(tarChunks(entries), { objectMode: false }),
  };
}

/** The layer's file in the archive: named by its blob digest, as docker save names by ID. */
function layerFile(layer: ClusterLayer): string {
  return `${hexOf(layer.digest)}/layer.tar`;
}

async function readConfig(opts: LoadArchiveOptions, who: string): Promise<Buffer> {
  const { image } = opts;
  let config: Buffer;
  try {
    config = await fs.readFile(opts.blobPath(image.configDigest));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new ImageLoadError(
      'missing-blob',
      `${who}: config blob ${image.configDigest} is not stored`,
    );
  }
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  if (digest !== image.configDigest) {
    throw new ImageLoadError(
      'bad-config',
      `${who}: config blob ${image.configDigest} holds bytes whose digest is ${digest}`,
    );
  }
  const diffIds = diffIdsOf(config);
  const expected = image.layers.map((l) => l.diffId);
  if (diffIds === null || diffIds.join(',') !== expected.join(',')) {
    throw new ImageLoadError(
      'bad-config',
      `${who}: the config's rootfs.diff_ids (${diffIds?.length ?? 'none'}) do not match the ${expected.length} layers' diff IDs`,
    );
  }
  return config;
}

function diffIdsOf(config: Buffer): string[] | null {
  try {
    const parsed = JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
    const ids = parsed.rootfs?.diff_ids;
    return Array.isArray(ids) && ids.every((x) => typeof x === 'string') ? ids : null;
  } catch {
    return null;
  }
}

async function checkLayer(file: string, layer: ClusterLayer, who: string): Promise<void> {
  if (/zstd/i.test(layer.mediaType)) throw zstdError(layer, who);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new ImageLoadError('missing-blob', `${who}: layer blob ${layer.digest} is not stored`);
  }
  try {
    const { size } = await handle.stat();
    if (size !== layer.size) {
      throw new ImageLoadError(
        'missing-blob',
        `${who}: layer blob ${layer.digest} holds ${size} bytes, the image says ${layer.size}`,
      );
    }
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    if (head.equals(ZSTD_MAGIC)) throw zstdError(layer, who);
  } finally {
    await handle.close();
  }
}

function zstdError(layer: ClusterLayer, who: string): ImageLoadError {
  return new ImageLoadError(
    'zstd-layer',
    `${who}: layer ${layer.digest} is zstd-compressed, which docker load of Docker 20.10 cannot read; push the image with gzip or uncompressed layers`,
  );
}

function hexOf(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (m?.[1] === undefined) throw new RangeError(`not a sha256 digest: ${digest}`);
  return m[1];
}
