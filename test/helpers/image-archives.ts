// Builds image archives for tests: a legacy docker save tarball and a two-platform OCI layout.
import { gzipSync } from 'node:zlib';
import { sha256, tarBuffer, type TarEntry } from './tar-writer.js';

export interface BuiltLayer {
  digest: string;
  size: number;
}

export interface BuiltDockerSave {
  tar: Buffer;
  entries: TarEntry[];
  configDigest: string;
  layers: BuiltLayer[];
}

/** A small layer: a tar holding one file, so each layer's bytes differ. */
export function layerTar(file: string, content: string): Buffer {
  return tarBuffer([{ name: file, data: Buffer.from(content) }]);
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** docker save before Docker 25: `<id>/layer.tar`, `<image id>.json`, manifest.json, repositories. */
export function dockerSaveArchive(opts: { omit?: string } = {}): BuiltDockerSave {
  const layerBytes = [layerTar('bin/sh', 'base layer'), layerTar('www/index.html', 'top layer')];
  const diffIds = layerBytes.map(sha256);
  const config = json({
    architecture: 'arm',
    variant: 'v7',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
  const configDigest = sha256(config);
  // Layer directories are not named by digest; the second is long enough to need a long name.
  const dirs = ['a'.repeat(64), `${'b'.repeat(64)}-${'c'.repeat(50)}`];
  const layerNames = dirs.map((d) => `${d}/layer.tar`);
  const configName = `${configDigest.slice(7)}.json`;
  const manifest = json([
    { Config: configName, RepoTags: ['example/app:1', 'example/app:latest'], Layers: layerNames },
  ]);
  const entries: TarEntry[] = [
    { name: `${dirs[0]}/VERSION`, data: Buffer.from('1.0') },
    { name: layerNames[0] ?? '', data: layerBytes[0] ?? Buffer.alloc(0) },
    { name: layerNames[1] ?? '', data: layerBytes[1] ?? Buffer.alloc(0), longName: 'gnu' as const },
    { name: configName, data: config },
    { name: 'manifest.json', data: manifest },
    { name: 'repositories', data: json({ 'example/app': { '1': dirs[1], latest: dirs[1] } }) },
  ].filter((e) => e.name !== opts.omit);
  return {
    tar: tarBuffer(entries),
    entries,
    configDigest,
    layers: layerBytes.map((b) => ({ digest: sha256(b), size: b.length })),
  };
}

export interface BuiltPlatform {
  architecture: string;
  variant?: string;
  manifestDigest: string;
  configDigest: string;
  layers: (BuiltLayer & { mediaType: string })[];
}

export interface BuiltOci {
  tar: Buffer;
  /** Files of the layout by path, to lay out on disk or change before taring. */
  files: Map<string, Buffer>;
  indexDigest: string;
  platforms: BuiltPlatform[];
}

const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

/** An OCI layout of a buildx-style image: an index with arm64 and amd64 and an attestation. */
export function ociArchive(): BuiltOci {
  const files = new Map<string, Buffer>();
  const blob = (data: Buffer, mediaType: string) => {
    const digest = sha256(data);
    files.set(`blobs/sha256/${digest.slice(7)}`, data);
    return { mediaType, digest, size: data.length };
  };
  const platforms: BuiltPlatform[] = [];
  const manifests = [];
  for (const [architecture, variant, layers] of [
    ['arm64', 'v8', [gzipSync(layerTar('bin/sh', 'arm64 base')), layerTar('app', 'arm64 app')]],
    ['amd64', undefined, [gzipSync(layerTar('bin/sh', 'amd64 base'))]],
  ] as const) {
    const layerDescs = layers.map((l) => blob(l, l[0] === 0x1f ? OCI.layerGzip : OCI.layer));
    const config = blob(
      json({ architecture, os: 'linux', ...(variant ? { variant } : {}) }),
      OCI.config,
    );
    const manifest = blob(
      json({ schemaVersion: 2, mediaType: OCI.manifest, config, layers: layerDescs }),
      OCI.manifest,
    );
    manifests.push({
      ...manifest,
      platform: { architecture, os: 'linux', ...(variant ? { variant } : {}) },
    });
    platforms.push({
      architecture,
      ...(variant ? { variant } : {}),
      manifestDigest: manifest.digest,
      configDigest: config.digest,
      layers: layerDescs.map((d) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType })),
    });
  }
  const attConfig = blob(json({ architecture: 'unknown', os: 'unknown' }), OCI.config);
  const att = blob(json({ schemaVersion: 2, config: attConfig, layers: [] }), OCI.manifest);
  manifests.push({
    ...att,
    platform: { architecture: 'unknown', os: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
  });
  const index = blob(json({ schemaVersion: 2, mediaType: OCI.index, manifests }), OCI.index);
  files.set('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
  files.set(
    'index.json',
    json({
      schemaVersion: 2,
      manifests: [
        {
          ...index,
          annotations: {
            'io.containerd.image.name': 'example/multi:1.0',
            'org.opencontainers.image.ref.name': '1.0',
          },
        },
      ],
    }),
  );
  return { tar: tarFromFiles(files), files, indexDigest: index.digest, platforms };
}

export function tarFromFiles(files: Map<string, Buffer>): Buffer {
  return tarBuffer([...files].map(([name, data]) => ({ name, data })));
}
