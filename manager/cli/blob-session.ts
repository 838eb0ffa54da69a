// The CLI's own connection to a manager's blob channel, beside its RPC session: for image uploads.
import { randomBytes } from 'node:crypto';
import { FleetError } from '../../shared/errors.js';
import type { Identity } from '../../shared/identity.js';
import { BlobClient } from '../../shared/images/blob-client.js';
import { systemClock } from '../../shared/clock.js';
import { tryConnect } from './rpc-session.js';

export interface BlobSession {
  client: BlobClient;
  host: string;
  close(): Promise<void>;
}

/** Connects to `host` under a fresh client id and subscribes to its blob responses. */
export async function openBlobSession(
  host: string,
  identity: Identity,
  insecure: boolean | undefined,
  timeoutMs: number,
): Promise<BlobSession> {
  const clientId = `${identity.id}.b${randomBytes(4).toString('hex')}`;
  const mq = await tryConnect(host, clientId, identity, timeoutMs, insecure);
  if (!mq) throw new FleetError('unavailable', `no manager answered at ${host}`);
  const link = {
    clientId,
    send: (topic: string, frame: Buffer) =>
      mq.connected ? mq.publishAsync(topic, frame, { qos: 1 }).then(() => undefined) : false,
  };
  const client = new BlobClient(link, systemClock, Math.max(timeoutMs, 30_000));
  mq.on('message', (_topic, payload) => client.deliver(payload));
  mq.on('close', () => client.failAll(`lost the connection to the manager at ${host}`));
  const granted = await mq.subscribeAsync(client.responseTopic, { qos: 1 });
  if (granted.some((g) => g.qos === 128)) {
    await mq.endAsync(true);
    throw new FleetError(
      'unavailable',
      `the manager at ${host} has no image store (an older version?): it refused the blob channel`,
    );
  }
  return { client, host, close: () => mq.endAsync(true).then(() => undefined) };
}
