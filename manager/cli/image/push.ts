// `fleet image push`: reads images from the engine or tarballs, uploads what the managers lack, then records each name.
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FleetError, errorMessage } from '../../../shared/errors.js';
import { isImageArchiveError } from '../../../shared/image-archive/errors.js';
import { readImageArchiveFile } from '../../../shared/image-archive/read-archive.js';
import type { BlobRef } from '../../../shared/image-archive/description.js';
import { formatBytes } from '../format.js';
import type { RpcClient } from '../rpc-client.js';
import { imagesToPush, PushError, type ImageToPush } from './records.js';
import { uploadBlobs, type ReadRange } from './upload.js';

export interface PushOptions {
  images: string[];
  files: string[];
  quiet: boolean;
}

export async function pushImages(c: RpcClient, o: PushOptions): Promise<void> {
  if (!c.openBlobs) throw new FleetError('internal', 'this connection cannot upload images');
  const tmp = o.images.length > 0 ? await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-push-')) : null;
  try {
    const archives = [...o.files.map((file) => ({ file, label: file }))];
    for (const image of o.images) {
      const file = path.join(tmp ?? os.tmpdir(), `${archives.length}.tar`);
      await saveFromEngine(image, file);
      archives.push({ file, label: image });
    }
    // A read goes to the leader; the blob channel then opens to that same manager.
    await c.call('image.ls', {});
    const blobs = await c.openBlobs();
    try {
      for (const a of archives) await pushArchive(c, blobs.client, a.file, a.label, o.quiet);
    } finally {
      await blobs.close();
    }
  } finally {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  }
}

async function pushArchive(
  c: RpcClient,
  client: Parameters<typeof uploadBlobs>[0],
  file: string,
  label: string,
  quiet: boolean,
): Promise<void> {
  const handle = await fs.open(file, 'r').catch((e: unknown) => {
    throw new FleetError('invalid_argument', `cannot read ${file}: ${errorMessage(e)}`);
  });
  try {
    const readAt = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    };
    const description = await readImageArchiveFile(file).catch((e: unknown) => {
      if (isImageArchiveError(e))
        throw new FleetError('invalid_argument', `cannot push ${label}: ${e.message}`);
      throw e;
    });
    const readConfig = (ref: BlobRef): Promise<Buffer> => readAt(ref.offset, ref.size);
    for (const image of description.images) {
      let records: ImageToPush[];
      try {
        records = await imagesToPush(image, readConfig);
      } catch (e) {
        if (e instanceof PushError)
          throw new FleetError('invalid_argument', `cannot push ${label}: ${e.message}`);
        throw e;
      }
      const first = records[0];
      if (!first) continue;
      await uploadImage(client, first, readAt, quiet);
      for (const r of records) {
        const view = await c.call('image.create', {
          name: r.name,
          digest: r.digest,
          ...(r.index ? { index: r.index } : {}),
          platforms: r.platforms,
        });
        process.stdout.write(
          `${view.name}: digest: ${view.digest} size: ${formatBytes(view.size)} platforms: ${view.platforms.join(',')}\n`,
        );
      }
    }
  } finally {
    await handle.close();
  }
}

async function uploadImage(
  client: Parameters<typeof uploadBlobs>[0],
  image: ImageToPush,
  readAt: (offset: number, length: number) => Promise<Buffer>,
  quiet: boolean,
): Promise<void> {
  const blobs = new Map<string, { size: number; read: ReadRange }>();
  let total = 0;
  for (const [digest, b] of image.blobs) {
    const origin = b.origin;
    const read: ReadRange =
      'bytes' in origin
        ? (offset, length) => Promise.resolve(origin.bytes.subarray(offset, offset + length))
        : (offset, length) => readAt(origin.file.offset + offset, length);
    blobs.set(digest, { size: b.size, read });
    total += b.size;
  }
  let shown = -1;
  const progress = (sent: number): void => {
    const pct = Math.floor((100 * sent) / Math.max(1, total));
    if (quiet || pct < shown + 10) return;
    shown = pct;
    process.stderr.write(`${image.name}: sent ${formatBytes(sent)}\n`);
  };
  try {
    const r = await uploadBlobs(client, blobs, progress);
    if (!quiet) {
      const resumed = r.resumedBytes > 0 ? `, resumed after ${formatBytes(r.resumedBytes)}` : '';
      process.stderr.write(
        `${image.name}: ${r.uploaded} blob(s) uploaded (${formatBytes(r.sentBytes)}${resumed}), ${r.present} already in the fleet\n`,
      );
    }
  } catch (e) {
    if (e instanceof PushError)
      throw new FleetError('unavailable', `cannot push ${image.name}: ${e.message}`);
    throw e;
  }
}

/** `docker save IMAGE` from the engine DOCKER_HOST names (the local socket by default). */
export async function saveFromEngine(image: string, file: string): Promise<void> {
  const { default: Docker } = await import('dockerode');
  const docker = new Docker();
  try {
    await docker.getImage(image).inspect();
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    throw new FleetError(
      status === 404 ? 'not_found' : 'unavailable',
      status === 404
        ? `no such image in the local engine: ${image}`
        : `cannot reach the local Docker engine to read ${image}: ${errorMessage(e)}`,
    );
  }
  const stream = await docker.getImage(image).get();
  await pipeline(stream, createWriteStream(file));
}
