// `fleet agent release push`: uploads a bundle to the leader's blob store (chunked, resumable), then has the release recorded and signed.
import { promises as fs } from 'node:fs';
import type { ReleaseView } from '../../../shared/api.js';
import { FleetError } from '../../../shared/errors.js';
import { formatBytes } from '../format.js';
import { PushError } from '../image/records.js';
import { uploadBlobs } from '../image/upload.js';
import type { RpcClient } from '../rpc-client.js';
import { readBundleFacts, type BundleFacts } from './bundle-file.js';

export { readBundleFacts };

export interface ReleasePushOptions {
  file: string;
  nodeMin: string;
  quiet: boolean;
}

/** Pushes the bundle `facts` describe (see readBundleFacts, called before connecting). */
export async function pushRelease(
  c: RpcClient,
  facts: BundleFacts,
  o: ReleasePushOptions,
): Promise<ReleaseView> {
  if (!c.openBlobs) throw new FleetError('internal', 'this connection cannot upload files');
  // A read goes to the leader; the blob channel then opens to that same manager.
  const known = (await c.call('release.ls', {})).find((r) => r.version === facts.version);
  if (known && known.sha256 !== facts.sha256) {
    throw new FleetError(
      'conflict',
      `agent release ${facts.version} is already recorded with other content (sha256 ${known.sha256.slice(0, 12)}, this file ${facts.sha256.slice(0, 12)}): give the new bundle another version, or remove the old release first`,
    );
  }
  if (!known) await upload(c, o, facts);
  const view = await c.call('release.create', {
    version: facts.version,
    nodeMin: o.nodeMin,
    sha256: facts.sha256,
    size: facts.size,
    ...(facts.protocolVersion !== undefined ? { protocolVersion: facts.protocolVersion } : {}),
  });
  const already = view.created ? '' : ' (already recorded)';
  process.stdout.write(
    `agent release ${view.version}: sha256: ${view.sha256} size: ${formatBytes(view.size)} node: >=${view.nodeMin}${already}\n`,
  );
  return view;
}

async function upload(c: RpcClient, o: ReleasePushOptions, facts: BundleFacts): Promise<void> {
  const blobs = await (c.openBlobs?.() ?? Promise.reject(new Error('no blob channel')));
  const handle = await fs.open(o.file, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    };
    const digest = `sha256:${facts.sha256}`;
    const r = await uploadBlobs(blobs.client, new Map([[digest, { size: facts.size, read }]]));
    if (!o.quiet) {
      const resumed = r.resumedBytes > 0 ? `, resumed after ${formatBytes(r.resumedBytes)}` : '';
      const what = r.present > 0 ? 'already on the manager' : `${formatBytes(r.sentBytes)} sent`;
      process.stderr.write(`agent release ${facts.version}: ${what}${resumed}\n`);
    }
  } catch (e) {
    if (e instanceof PushError) {
      throw new FleetError('unavailable', `cannot push ${o.file}: ${e.message}`);
    }
    throw e;
  } finally {
    await handle.close();
    await blobs.close();
  }
}
