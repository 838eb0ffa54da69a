// Talking to a manager's dashboard in tests: HTTPS checked against the cluster CA, sign-in, and a headless Chromium.
import { promises as fs } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import type { TestContext } from 'node:test';
import { cli, type ManagerProc } from './cluster.js';

/** Debian's chromium package; no browser is downloaded. */
export const CHROMIUM = process.env.FLEET_CHROMIUM ?? '/usr/bin/chromium';

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request, trusting only the cluster's CA (written by the manager beside its data). */
export async function dashRequest(
  m: Pick<ManagerProc, 'dataDir'>,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<HttpReply> {
  const ca = await fs.readFile(path.join(m.dataDir, 'dashboard-ca.pem'), 'utf8');
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        ca,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Signs in with a token; returns the Cookie header value for later requests. */
export async function signIn(
  m: Pick<ManagerProc, 'dataDir'>,
  base: string,
  token: string,
): Promise<string> {
  const r = await dashRequest(m, `${base}/api/session`, { method: 'POST', body: { token } });
  if (r.status !== 200) throw new Error(`sign-in refused: ${r.status} ${r.body}`);
  const set = [r.headers['set-cookie'] ?? []].flat()[0] ?? '';
  return set.split(';')[0] ?? '';
}

/** Mints a dashboard token with the CLI. */
export async function mintToken(m: ManagerProc, name: string, readOnly = false): Promise<string> {
  const r = await cli(m, [
    'dashboard',
    'token',
    '--name',
    name,
    ...(readOnly ? ['--read-only'] : []),
  ]);
  if (r.code !== 0) throw new Error(`fleet dashboard token failed: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Chromium, or a skip when the machine has none (install Debian's chromium package); in CI,
 * which installs it, a missing browser fails instead of passing as a silent skip.
 */
export async function launchChromium(t: TestContext): Promise<Browser | null> {
  try {
    await fs.access(CHROMIUM);
  } catch {
    const why = `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
    if (process.env.CI) throw new Error(`Chromium is required in CI: ${why}`);
    t.skip(why);
    return null;
  }
  return launchChromiumFor();
}

/** Chromium for scripts outside the test runner (benchmarks): fails when there is none. */
export function launchChromiumFor(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The dashboard's certificate comes from the cluster's own CA, which this browser does not know.
    acceptInsecureCerts: true,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1400, height: 1000 },
  });
}
