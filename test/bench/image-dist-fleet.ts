// The fleet half of the image-dist benchmark: push once to a bandwidth-limited manager, N boards on one site run it.
import { promises as fs, readFileSync } from 'node:fs';
import type { ImageOnNode } from '../../shared/api-images.js';
import type { Engine } from '../helpers/engines.js';
import { engineDocker } from '../helpers/engines.js';
import {
  adminClient,
  fleetCli,
  onInterrupt,
  poll,
  startBenchAgent,
  startBenchManager,
  stopProc,
  type BenchAgent,
} from './lib.js';

export interface FleetSettings {
  image: string;
  /** The manager's --max-bandwidth text, e.g. 20M. */
  limit: string;
  timeoutMs: number;
}

export interface FleetOutcome {
  /** Seconds from service create to all N tasks running; null when they never all ran. */
  seconds: number | null;
  /** Seconds until image inspect listed the image loaded on all N nodes. */
  loadedSeconds: number | null;
  /** Seconds until every node had all the bytes (fetched, loading or loaded). */
  fetchedSeconds: number | null;
  /** Seconds `fleet image push` took (not part of the timed run). */
  pushSeconds: number;
  /** The image's size as the manager stores it (every distinct blob). */
  imageBytes: number;
  fromManager: number;
  fromPeers: number;
  /** What the manager process wrote (sockets and files) during the timed run: /proc/PID/io wchar. */
  managerWrote: number | null;
  nodes: ImageOnNode[];
  note: string;
}

const SERVICE = 'imgdist';
const POLL_MS = 250;
const secs = (t0: number): number => (performance.now() - t0) / 1000;

/** Bytes the process has passed to write-like system calls (sockets included), or null. */
function wchar(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^wchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m?.[1] ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Agent i (from 1) listens on 127.0.30.i and runs tasks on engine i; all on site "bench". */
const agentAddress = (i: number): string => `127.0.30.${i}`;

export async function fleetRun(
  engines: readonly Engine[],
  s: FleetSettings,
): Promise<FleetOutcome> {
  const n = engines.length;
  const m = await startBenchManager({ extraArgs: ['--max-bandwidth', s.limit] });
  const agents: BenchAgent[] = engines.map((e, i) =>
    startBenchAgent(m, {
      name: `flbench-${i + 1}`,
      address: agentAddress(i + 1),
      runtime: 'docker',
      extraArgs: ['--label', 'site=bench', '--docker-host', e.host],
    }),
  );
  const stopAll = async (): Promise<void> => {
    await Promise.all(agents.map((a) => stopProc(a.proc)));
    await stopProc(m.proc);
  };
  const forget = onInterrupt(stopAll);
  const client = await adminClient(m);
  const out: FleetOutcome = {
    seconds: null,
    loadedSeconds: null,
    fetchedSeconds: null,
    pushSeconds: 0,
    imageBytes: 0,
    fromManager: 0,
    fromPeers: 0,
    managerWrote: null,
    nodes: [],
    note: '',
  };
  try {
    const ready = await poll(
      async () =>
        (await client.call('node.ls', {})).filter((x) => !x.manager && x.status === 'ready')
          .length >= n,
      POLL_MS,
      60_000,
    );
    if (!ready) return { ...out, note: `not all ${n} agents became ready (logs: ${m.log})` };

    const p0 = performance.now();
    const pushed = await fleetCli(m, ['image', 'push', s.image], s.timeoutMs);
    out.pushSeconds = secs(p0);
    if (pushed.code !== 0) return { ...out, note: `image push failed: ${pushed.stderr.trim()}` };

    const w0 = wchar(m.proc.pid);
    const t0 = performance.now();
    const created = await fleetCli(m, [
      'service',
      'create',
      '--detach',
      '--name',
      SERVICE,
      '--replicas',
      String(n),
      '--max-replicas-per-node',
      '1',
      s.image,
    ]);
    if (created.code !== 0)
      return { ...out, note: `service create failed: ${created.stderr.trim()}` };
    const done = await poll(
      async () => {
        if (out.loadedSeconds === null) {
          const d = await client.call('image.inspect', { image: s.image });
          const have = d.nodes.filter((x) => x.state === 'loaded' || x.bytes >= x.total);
          if (out.fetchedSeconds === null && have.length >= n) out.fetchedSeconds = secs(t0);
          if (d.nodes.filter((x) => x.state === 'loaded').length >= n) out.loadedSeconds = secs(t0);
        }
        const svc = (await client.call('service.ls', {})).find((x) => x.name === SERVICE);
        return (svc?.replicas.running ?? 0) >= n;
      },
      POLL_MS,
      s.timeoutMs,
    );
    out.seconds = done ? secs(t0) : null;
    const w1 = wchar(m.proc.pid);
    out.managerWrote = w0 !== null && w1 !== null ? w1 - w0 : null;

    // The counters arrive with the agents' status reports: wait until every node reports.
    const detail = await poll(
      async () => {
        const d = await client.call('image.inspect', { image: s.image });
        return d.nodes.filter((x) => x.state === 'loaded').length >= n ? d : null;
      },
      POLL_MS,
      done ? 20_000 : 1_000,
    );
    const last = detail ?? (await client.call('image.inspect', { image: s.image }));
    out.imageBytes = last.size;
    out.nodes = [...last.nodes].sort((a, b) => a.node.localeCompare(b.node));
    out.fromManager = out.nodes.reduce((sum, x) => sum + x.fromManager, 0);
    out.fromPeers = out.nodes.reduce((sum, x) => sum + x.fromPeers, 0);
    out.note = done
      ? `${n} agents, own engines, site=bench`
      : `timed out after ${s.timeoutMs / 1000} s (manager log: ${m.log})`;
    return out;
  } finally {
    await client.call('service.rm', { service: SERVICE }).catch(() => undefined);
    await poll(
      async () => {
        const counts = await Promise.all(
          engines.map(async (e) => (await engineDocker(e).listContainers({ all: true })).length),
        );
        return counts.every((c) => c === 0);
      },
      POLL_MS,
      30_000,
    );
    await client.close().catch(() => undefined);
    await stopAll();
    forget();
    for (const dir of [m.dataDir, ...agents.map((a) => a.dataDir)])
      await fs.rm(dir, { recursive: true, force: true });
  }
}
