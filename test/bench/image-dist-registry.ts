// The registry half of the image-dist benchmark: N engines pull one image at once from a registry behind a limited uplink.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { freePort } from '../helpers/cluster.js';
import type { Engine } from '../helpers/engines.js';
import { startRegistryProcess, type Registry } from '../helpers/registry.js';
import { startLimitedProxy, type LimitedProxy } from './limited-proxy.js';
import { onInterrupt, run } from './lib.js';

export interface RegistrySettings {
  image: string;
  /** Bytes per second from the registry to all engines together. */
  limitBytes: number;
  timeoutMs: number;
  /** The loopback address the registry and its proxy listen on. */
  host: string;
}

export interface RegistryOutcome {
  /** Seconds from the first pull's start to the last pull's end; null unless all succeeded. */
  seconds: number | null;
  /** Seconds `docker push` to the registry took (not part of the timed run). */
  pushSeconds: number;
  /** Bytes the proxy passed from the registry to the engines. */
  bytes: number;
  /** Each engine's pull, in seconds (null: failed). */
  pulls: (number | null)[];
  note: string;
}

const secs = (t0: number): number => (performance.now() - t0) / 1000;

/** `docker -H host pull ref`, bounded; resolves with its exit code and the end of its stderr. */
function pull(host: string, ref: string, timeoutMs: number): Promise<{ ok: boolean; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('docker', ['-H', host, 'pull', '-q', ref], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-500)));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, err: err.trim() });
    });
    p.on('error', (e) => resolve({ ok: false, err: e.message }));
  });
}

export async function registryRun(
  engines: readonly Engine[],
  s: RegistrySettings,
): Promise<RegistryOutcome> {
  const out: RegistryOutcome = { seconds: null, pushSeconds: 0, bytes: 0, pulls: [], note: '' };
  const addr = `${s.host}:${await freePort()}`;
  const repoTag = s.image.replace(/^[^/]*\//, '');
  const pushRef = `${addr}/flbench/${repoTag}`;
  let registry: Registry | null = null;
  let proxy: LimitedProxy | null = null;
  let stopRegistry: (() => Promise<void>) | null = null;
  const cleanup = async (): Promise<void> => {
    await proxy?.close();
    await stopRegistry?.();
    await run('docker', ['rmi', pushRef], 60_000);
    if (registry) await fs.rm(path.dirname(registry.log), { recursive: true, force: true });
  };
  const forget = onInterrupt(cleanup);
  try {
    registry = await startRegistryProcess(addr, undefined, (stop) => (stopRegistry = stop));
    proxy = await startLimitedProxy(s.host, addr, s.limitBytes);
    const tagged = await run('docker', ['tag', s.image, pushRef]);
    if (tagged.code !== 0) return { ...out, note: `docker tag failed: ${tagged.stderr.trim()}` };
    const p0 = performance.now();
    const pushed = await run('docker', ['push', pushRef], s.timeoutMs);
    out.pushSeconds = secs(p0);
    if (pushed.code !== 0) return { ...out, note: `docker push failed: ${pushed.stderr.trim()}` };

    // Through the proxy: the same repository under the proxy's address.
    const pullRef = `${proxy.address}/flbench/${repoTag}`;
    const before = proxy.down();
    const t0 = performance.now();
    const results = await Promise.all(
      engines.map(async (e) => {
        const r = await pull(e.host, pullRef, s.timeoutMs);
        return { ...r, seconds: r.ok ? secs(t0) : null };
      }),
    );
    const total = secs(t0);
    out.bytes = proxy.down() - before;
    out.pulls = results.map((r) => r.seconds);
    const failed = results.filter((r) => !r.ok);
    out.seconds = failed.length === 0 ? total : null;
    out.note =
      failed.length === 0
        ? `${engines.length} x docker pull at once via a limited proxy`
        : `${failed.length} pull(s) failed: ${failed[0]?.err ?? ''}`;
    return out;
  } finally {
    await cleanup();
    forget();
  }
}
