// Small HTTP clients for the end-to-end tests: one GET with its outcome, and a slow download.
import http from 'node:http';

export type Answer = { ok: true; body: string } | { ok: false; error: string };

/** GET `path` on host:port without keep-alive; never rejects: a failure is an answer too. */
export function httpGet(
  host: string,
  port: number,
  timeoutMs = 3_000,
  path = '/',
): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve(
          res.statusCode === 200
            ? { ok: true, body: body.trim() }
            : { ok: false, error: `HTTP ${res.statusCode}` },
        ),
      );
      res.on('error', (e) => resolve({ ok: false, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: e.code ?? e.message }),
    );
  });
}

export interface Download {
  status: number | null;
  /** Content-Length as announced. */
  expected: number;
  received: number;
  error: string | null;
  ms: number;
}

/**
 * Downloads host:port/path reading at most bytesPerSec, so it lasts long enough for something to
 * happen meanwhile. Resolves when the body ends or the connection breaks; never rejects.
 */
export function slowDownload(
  host: string,
  port: number,
  path: string,
  bytesPerSec: number,
  onStarted?: () => void,
): Promise<Download> {
  const started = Date.now();
  return new Promise((resolve) => {
    const out: Download = { status: null, expected: -1, received: 0, error: null, ms: 0 };
    const done = (error: string | null): void => {
      if (out.ms > 0) return;
      out.ms = Date.now() - started;
      out.error = error;
      resolve(out);
    };
    const req = http.get({ host, port, path, agent: false }, (res) => {
      out.status = res.statusCode ?? null;
      out.expected = Number(res.headers['content-length'] ?? -1);
      onStarted?.();
      res.on('data', (chunk: Buffer) => {
        out.received += chunk.length;
        res.pause();
        setTimeout(() => res.resume(), (chunk.length / bytesPerSec) * 1000);
      });
      res.on('end', () => done(out.received === out.expected ? null : 'body ended short'));
      res.on('aborted', () => done('aborted'));
      res.on('error', (e) => done(e.message));
      res.on('close', () => done(out.received === out.expected ? null : 'connection closed'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}
