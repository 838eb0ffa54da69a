// `fleet bundle create`: reads images from the engine, has a manager sign the manifest, fetches the agent release, writes the file.
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeBundleFile, type EntrySource } from '../../../shared/bundle/container.js';
import {
  AGENT_ENTRY,
  blobEntry,
  type BundleEntry,
  type BundledImage,
  type SignedBundle,
} from '../../../shared/bundle/manifest.js';
import { FleetError, errorMessage } from '../../../shared/errors.js';
import { isImageArchiveError } from '../../../shared/image-archive/errors.js';
import { readImageArchiveFile } from '../../../shared/image-archive/read-archive.js';
import { CHUNK_BYTES } from '../../../shared/images/blob-protocol.js';
import { formatBytes } from '../format.js';
import { saveFromEngine } from '../image/push.js';
import { imagesToPush, PushError } from '../image/records.js';
import type { RpcClient } from '../rpc-client.js';

export interface CreateOptions {
  out: string;
  agent?: string;
  services: string[];
  stacks: string[];
  images: string[];
  nodes: string[];
  labels: Record<string, string>;
  expiresInMs: number;
}

/** Builds the bundle in a temporary folder and renames it into place once complete. */
export async function createBundle(c: RpcClient, o: CreateOptions): Promise<SignedBundle> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-bundle-'));
  try {
    const sources = new Map<string, EntrySource>();
    const images: BundledImage[] = [];
    const entries: BundleEntry[] = [];
    for (const [i, image] of o.images.entries()) {
      const file = path.join(tmp, `image-${i}.tar`);
      await saveFromEngine(image, file);
      images.push(...(await imageEntries(file, image, entries, sources)));
    }
    const signed = await c.call('bundle.sign', {
      services: o.services,
      stacks: o.stacks,
      ...(o.agent !== undefined ? { agentVersion: o.agent } : {}),
      nodes: o.nodes,
      labels: o.labels,
      expiresInMs: o.expiresInMs,
      images,
      entries,
    });
    if (signed.manifest.agent) {
      const file = path.join(tmp, 'fleet-agent.mjs');
      const { sha256, size } = signed.manifest.agent.manifest;
      await download(c, `sha256:${sha256}`, size, file);
      sources.set(AGENT_ENTRY, () => createReadStream(file));
    }
    const part = path.join(path.dirname(path.resolve(o.out)), `.${path.basename(o.out)}.part`);
    await writeBundleFile(part, signed, sources);
    await fs.rename(part, o.out);
    return signed;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** One line saying what the bundle holds. */
export function describeBundle(out: string, s: SignedBundle, bytes: number): string {
  const m = s.manifest;
  const parts = [
    `bundle ${m.sequence} (${m.id})`,
    `${m.services.length} service(s)`,
    `${m.images.length} image(s)`,
    m.agent ? `agent ${m.agent.manifest.version}` : 'no agent',
    `expires ${new Date(m.expiresAt).toISOString()}`,
  ];
  return `${out}: ${parts.join(', ')}, ${formatBytes(bytes)}\n`;
}

/** The images a docker-save archive holds, with an entry per config and layer blob. */
async function imageEntries(
  file: string,
  label: string,
  entries: BundleEntry[],
  sources: Map<string, EntrySource>,
): Promise<BundledImage[]> {
  const fail = (e: unknown): never => {
    if (isImageArchiveError(e) || e instanceof PushError)
      throw new FleetError('invalid_argument', `cannot bundle ${label}: ${e.message}`);
    throw e;
  };
  const description = await readImageArchiveFile(file).catch(fail);
  const readRange = async (offset: number, size: number): Promise<Buffer> => {
    const fh = await fs.open(file, 'r');
    try {
      const buf = Buffer.alloc(size);
      await fh.read(buf, 0, size, offset);
      return buf;
    } finally {
      await fh.close();
    }
  };
  const out: BundledImage[] = [];
  for (const image of description.images) {
    const records = await imagesToPush(image, (ref) => readRange(ref.offset, ref.size)).catch(fail);
    for (const r of records) {
      out.push({ name: r.name, platforms: r.platforms });
      const needed = r.platforms.flatMap((p) => [p.configDigest, ...p.layers.map((l) => l.digest)]);
      for (const digest of needed) {
        const blob = r.blobs.get(digest);
        const name = blobEntry(digest);
        if (!blob || !('file' in blob.origin) || sources.has(name)) continue;
        const { offset, size } = blob.origin.file;
        entries.push({ name, size, sha256: digest.slice('sha256:'.length) });
        sources.set(name, () =>
          size === 0
            ? emptySource()
            : createReadStream(file, { start: offset, end: offset + size - 1 }),
        );
      }
    }
  }
  return out;
}

async function* emptySource(): AsyncIterable<Uint8Array> {}

/** Reads a blob from the manager's blob store into `file`, chunk by chunk. */
async function download(c: RpcClient, digest: string, size: number, file: string): Promise<void> {
  if (!c.openBlobs) throw new FleetError('internal', 'this connection cannot download files');
  const blobs = await c.openBlobs();
  const fh = await fs.open(file, 'w');
  try {
    for (let at = 0; at < size;) {
      const { bytes } = await blobs.client.get(digest, at, Math.min(CHUNK_BYTES, size - at));
      if (bytes.length === 0)
        throw new FleetError('unavailable', `the manager sent no bytes of ${digest}`);
      await fh.write(bytes, 0, bytes.length, at);
      at += bytes.length;
    }
  } catch (e) {
    if (e instanceof FleetError) throw e;
    throw new FleetError(
      'unavailable',
      `cannot fetch the agent release ${digest}: ${errorMessage(e)}`,
    );
  } finally {
    await fh.close();
    await blobs.close();
  }
}
