// Pulls an image through the engine, failing on the first error line or when the time allowed runs out.
import type Docker from 'dockerode';
import type { Clock } from '../../../shared/clock.js';
import type { RegistryAuth } from '../types.js';
import { isRecord, str } from './fields.js';
import { JsonLines, destroyStream } from './streams.js';

/**
 * Pulls an image, failing on the first error line or when timeoutMs of the clock runs out.
 * Credentials go to the engine as the pull's authconfig and are never logged.
 */
export function pullImage(
  docker: Docker,
  image: string,
  timeoutMs: number,
  clock: Clock,
  auth?: RegistryAuth,
): Promise<void> {
  const abort = new AbortController();
  return new Promise<void>((resolve, reject) => {
    let stream: NodeJS.ReadableStream | null = null;
    let settled = false;
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      if (stream) destroyStream(stream);
      if (err) reject(err);
      else resolve();
    };
    const timer = clock.setTimeout(() => {
      abort.abort();
      settle(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    docker
      .pull(image, { abortSignal: abort.signal, ...(auth ? { authconfig: auth } : {}) })
      .then((s: NodeJS.ReadableStream) => {
        stream = s;
        if (settled) destroyStream(s);
        else followPull(s, (err) => settle(err));
      }, settle);
  });
}

/** Reads a pull's progress lines; the engine reports failures as an "error" line, not a status. */
function followPull(stream: NodeJS.ReadableStream, done: (err: Error | null) => void): void {
  const lines = new JsonLines();
  let failure: string | null = null;
  const inspect = (msg: unknown): void => {
    if (failure === null && isRecord(msg) && msg.error !== undefined) failure = str(msg.error);
  };
  stream.on('data', (chunk: Buffer | string) => lines.push(chunk).forEach(inspect));
  stream.on('error', (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
  stream.on('end', () => {
    lines.end().forEach(inspect);
    done(failure === null ? null : new Error(failure));
  });
}
