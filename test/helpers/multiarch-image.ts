// Builds by hand a two-platform OCI layout tarball: linux/amd64 runs the test image's rootfs, linux/arm64 holds one file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { TEST_IMAGE, ensureTestImage } from './docker.js';
import { tarFromFiles } from './image-archives.js';
import { sha256, tarBuffer } from './tar-writer.js';

const run = promisify(execFile);

const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

export interface MultiArchPlatform {
  architecture: 'amd64' | 'arm64';
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

export interface MultiArchImage {
  /** repository:tag, from the index's io.containerd.image.name annotation. */
  name: string;
  tar: Buffer;
  index: Blob;
  amd64: MultiArchPlatform;
  arm64: MultiArchPlatform;
}

/** The test image's config and its layers (plain tars), read from a `docker save` of it. */
async function savedTestImage(): Promise<{ config: Record<string, unknown>; layers: Buffer[] }> {
  await ensureTestImage();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-multiarch-'));
  try {
    const file = path.join(dir, 'saved.tar');
    await run('docker', ['save', '-o', file, TEST_IMAGE]);
    await run('tar', ['-xf', file, '-C', dir]);
    const [entry] = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
      Config: string;
      Layers: string[];
    }[];
    if (!entry) throw new Error(`docker save of ${TEST_IMAGE} has an empty manifest.json`);
    const config = JSON.parse(await fs.readFile(path.join(dir, entry.Config), 'utf8')) as Record<
      string,
      unknown
    >;
    const layers = await Promise.all(entry.Layers.map((l) => fs.readFile(path.join(dir, l))));
    return { config, layers };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * The amd64 image is the test image (its layers gzipped, a config of its own so its image ID
 * is new); the arm64 one is a single uncompressed layer of `arm64Bytes` random bytes in one
 * file, so a node that fetched both would have received visibly more. `indexed` leaves a
 * platform out of the index (its blobs stay in the layout, unreferenced).
 */
export async function buildMultiArchImage(opts: {
  arm64Bytes: number;
  indexed?: readonly ('amd64' | 'arm64')[];
}): Promise<MultiArchImage> {
  const saved = await savedTestImage();
  const name = `fleet-test/multi:${randomBytes(4).toString('hex')}`;
  const files = new Map<string, Buffer>();
  const blob = (data: Buffer, mediaType: string): Blob => {
    const digest = sha256(data);
    files.set(`blobs/sha256/${digest.slice(7)}`, data);
    return { mediaType, digest, size: data.length };
  };
  const platform = (
    architecture: 'amd64' | 'arm64',
    plain: Buffer[],
    gzip: boolean,
    base: Record<string, unknown>,
  ): MultiArchPlatform => {
    const layers = plain.map((l) => (gzip ? blob(gzipSync(l), OCI.layerGzip) : blob(l, OCI.layer)));
    const body = {
      ...base,
      architecture,
      os: 'linux',
      config: { ...((base.config as object | undefined) ?? {}), Labels: { 'fleet.test': name } },
      rootfs: { type: 'layers', diff_ids: plain.map(sha256) },
    };
    const config = blob(Buffer.from(JSON.stringify(body)), OCI.config);
    const manifest = blob(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI.manifest, config, layers })),
      OCI.manifest,
    );
    return { architecture, manifest, config, layers };
  };
  const amd64 = platform('amd64', saved.layers, true, saved.config);
  const arm64 = platform(
    'arm64',
    [tarBuffer([{ name: 'arm64.bin', data: randomBytes(opts.arm64Bytes) }])],
    false,
    {},
  );
  const indexed = opts.indexed ?? ['amd64', 'arm64'];
  const manifests = [amd64, arm64]
    .filter((p) => indexed.includes(p.architecture))
    .map((p) => ({
      ...p.manifest,
      platform: { architecture: p.architecture, os: 'linux' },
    }));
  const index = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI.index, manifests })),
    OCI.index,
  );
  files.set('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  const tag = name.slice(name.lastIndexOf(':') + 1);
  const top = {
    schemaVersion: 2,
    manifests: [
      {
        ...index,
        annotations: {
          'io.containerd.image.name': name,
          'org.opencontainers.image.ref.name': tag,
        },
      },
    ],
  };
  files.set('index.json', Buffer.from(JSON.stringify(top)));
  return { name, tar: tarFromFiles(files), index, amd64, arm64 };
}

/** Bytes a node of this platform needs: its config and layers (the manifest is not fetched). */
export function platformBytes(p: MultiArchPlatform): number {
  return p.config.size + p.layers.reduce((a, l) => a + l.size, 0);
}
