// The CLI's side of a log stream: finds the leader, opens the stream on its broker, prints lines, renews until done or Ctrl-C.
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { systemClock } from '../../../shared/clock.js';
import { FleetError, type ErrorCode } from '../../../shared/errors.js';
import {
  RENEW_MS,
  logResponseSchema,
  logTopics,
  type LogRequest,
  type LogResponse,
  type ReadOptions,
} from '../../../shared/log-stream.js';
import { decode, encode } from '../../../shared/protocol.js';
import {
  DEFAULT_HOST,
  DEFAULT_IDENTITY,
  connector,
  loadIdentity,
  type ConnectionFlags,
} from '../connection.js';
import { tryConnect } from '../rpc-session.js';
import { formatLine, prefixes, type PrintOptions } from './format.js';

export type LogTarget = Extract<LogRequest, { op: 'open' }>['target'];

/** How long the manager has to answer the open before the CLI gives up. */
const OPEN_TIMEOUT_MS = 10_000;

/** Streams the target's logs to stdout (stderr lines to stderr) until they end or a signal. */
export async function streamLogs(
  argv: ConnectionFlags,
  target: LogTarget,
  read: ReadOptions,
  print: PrintOptions,
): Promise<void> {
  const { readContexts, resolveConnection } = await import('../contexts.js');
  const resolved = resolveConnection(argv, process.env, await readContexts(), {
    host: DEFAULT_HOST,
    identity: DEFAULT_IDENTITY,
  });
  const identity = await loadIdentity(resolved.identity);
  // Agents talk to the leader, so the stream opens there: a read through RPC finds it.
  const client = await connector.connect({ ...resolved, stale: false });
  let host: string;
  try {
    await client.call('cluster.info', {});
    host = client.host;
  } finally {
    await client.close();
  }
  const clientId = `${identity.id}.l${randomBytes(4).toString('hex')}`;
  const mq = await tryConnect(host, clientId, identity, OPEN_TIMEOUT_MS, resolved.insecure);
  if (!mq) throw new FleetError('unavailable', `no manager answered at ${host}`);
  try {
    await follow(mq, clientId, host, target, read, print);
  } finally {
    await mq.endAsync(true).catch(() => undefined);
  }
}

async function follow(
  mq: MqttClient,
  clientId: string,
  host: string,
  target: LogTarget,
  read: ReadOptions,
  print: PrintOptions,
): Promise<void> {
  const id = randomBytes(6).toString('hex');
  const send = (req: LogRequest): void =>
    void mq
      .publishAsync(logTopics.request(clientId), encode(req), { qos: 1 })
      .catch(() => undefined);
  const granted = await mq.subscribeAsync(logTopics.response(clientId), { qos: 1 });
  if (granted.some((g) => g.qos === 128))
    throw new FleetError(
      'unavailable',
      `the manager at ${host} does not stream logs (an older version?)`,
    );
  const clock = systemClock;
  let prefix = new Map<number, string>();
  const bare = target.kind === 'node';
  return new Promise<void>((resolve, reject) => {
    const renew = clock.setInterval(() => send({ v: 1, op: 'renew', id }), RENEW_MS);
    const openTimer = clock.setTimeout(
      () =>
        finish(new FleetError('unavailable', `the manager at ${host} did not open the log stream`)),
      OPEN_TIMEOUT_MS,
    );
    const onSignal = (): void => {
      send({ v: 1, op: 'close', id });
      finish(null);
    };
    const finish = (err: Error | null): void => {
      clock.clearInterval(renew);
      clock.clearTimeout(openTimer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      mq.removeAllListeners('message');
      if (err) reject(err);
      else resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    mq.on('close', () =>
      finish(new FleetError('unavailable', `lost the connection to the manager at ${host}`)),
    );
    mq.on('message', (_topic, payload) => {
      const d = decode(logResponseSchema, payload);
      if (!d.ok || d.value.id !== id) return;
      const res: LogResponse = d.value;
      if (res.kind === 'opened') {
        clock.clearTimeout(openTimer);
        prefix = prefixes(res.parts, print);
      } else if (res.kind === 'lines') {
        for (const l of res.lines) {
          const text = formatLine(l, prefix.get(l.k), print, bare) + '\n';
          if (l.e) process.stderr.write(text);
          else process.stdout.write(text);
        }
      } else if (res.kind === 'end') finish(null);
      else finish(new FleetError(res.code as ErrorCode, res.message));
    });
    send({ v: 1, op: 'open', id, target, read });
  });
}
