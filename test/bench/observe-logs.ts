// Benchmark `observe-logs`: one task's log followed by `fleet service logs -f` and by `docker logs -f` side by side,
// lines per second and latency (engine time of a line to its arrival at the reader), p50 and p99.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import {
  cli,
  cliOk,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
} from '../helpers/cluster.js';
import { TEST_IMAGE, ensureTestImage } from '../helpers/docker.js';
import { followLogs } from '../helpers/log-follower.js';
import { waitFor } from '../helpers/wait.js';
import {
  containersWithLabel,
  dockerAnswers,
  goalLine,
  onInterrupt,
  percentile,
  printTable,
  removeContainersWithLabel,
} from './lib.js';

const SERVICE = 'fleet-logs-bench';
const WINDOW_MS = Number(process.env.FLEET_BENCH_LOG_WINDOW_MS ?? 10_000);
/** Lines the task writes every 100 ms (about 90 bytes each). */
const BURST = Number(process.env.FLEET_BENCH_LOG_BURST ?? 50);
const WRITER =
  `while :; do i=0; while [ $i -lt ${BURST} ]; do ` +
  'echo "line $i abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz abcdefghij"; ' +
  'i=$((i+1)); done; sleep 0.1; done';

interface Reading {
  name: string;
  lines: { text: string; at: number }[];
  proc: ChildProcess;
}

/** `docker logs -f --timestamps`, collected line by line with when each was read. */
function dockerFollow(container: string): Reading {
  const proc = spawn('docker', ['logs', '-f', '--tail', '0', '--timestamps', container], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Reading['lines'] = [];
  let rest = '';
  proc.stdout?.on('data', (c: Buffer) => {
    const at = Date.now();
    const parts = (rest + c.toString()).split('\n');
    rest = parts.pop() ?? '';
    for (const text of parts) lines.push({ text, at });
  });
  return { name: 'docker logs -f', lines, proc };
}

/** Lines per second and delays (ms) of the lines read inside the window. */
function measure(r: Reading, from: number, to: number): { rate: number; delays: number[] } {
  const delays: number[] = [];
  let count = 0;
  for (const l of r.lines) {
    if (l.at < from || l.at >= to) continue;
    const stamp = /(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) line /.exec(l.text)?.[1];
    if (!stamp) continue;
    count++;
    delays.push(l.at - Date.parse(stamp));
  }
  return { rate: (count * 1000) / (to - from), delays };
}

async function main(): Promise<void> {
  if (!(await dockerAnswers())) {
    console.log('observe-logs skipped: no Docker engine answers');
    return;
  }
  await ensureTestImage();
  const m = await startManager({ host: '127.0.21.21', heartbeat: '500ms' });
  const a = startAgent({
    manager: m.address,
    token: m.workerToken,
    name: 'logs-bench',
    address: '127.0.21.22',
    runtime: 'docker',
  });
  const readers: Reading[] = [];
  const cleanup = async (): Promise<void> => {
    for (const r of readers) r.proc.kill('SIGKILL');
    await cli(m, ['service', 'rm', SERVICE]).catch(() => undefined);
    await stopProc(a.proc);
    await removeContainersWithLabel(`fleet.service.name=${SERVICE}`);
    await stopProc(m.proc);
    for (const d of [m.dataDir, a.dataDir]) await fs.rm(d, { recursive: true, force: true });
  };
  const unregister = onInterrupt(cleanup);
  try {
    await waitForNodes(m, 1);
    await cliOk(m, [
      'service',
      'create',
      '--detach',
      '--name',
      SERVICE,
      TEST_IMAGE,
      'sh',
      '-c',
      WRITER,
    ]);
    const [container] = await waitFor(
      async () => {
        const ids = await containersWithLabel(`fleet.service.name=${SERVICE}`, { running: true });
        return ids.length > 0 ? ids : null;
      },
      { what: 'the writer running', timeoutMs: 60_000, intervalMs: 250 },
    );
    const f = followLogs(m, ['service', 'logs', '-f', '--tail', '0', '--timestamps', SERVICE]);
    readers.push({ name: 'fleet service logs -f', lines: f.lines, proc: f.proc });
    readers.push(dockerFollow(container ?? ''));
    // Both readers under way before the window opens.
    await waitFor(() => readers.every((r) => r.lines.length > 0), {
      what: 'lines at both readers',
      timeoutMs: 30_000,
    });
    const from = Date.now() + 1_000;
    await new Promise((r) => setTimeout(r, WINDOW_MS + 2_000));
    report(readers, from, from + WINDOW_MS);
  } finally {
    await cleanup();
    unregister();
  }
}

function report(readers: Reading[], from: number, to: number): void {
  const rows = [['reader', 'lines/s', 'p50 ms', 'p99 ms', 'max ms']];
  const p99 = new Map<string, number>();
  for (const r of readers) {
    const { rate, delays } = measure(r, from, to);
    p99.set(r.name, percentile(delays, 99));
    rows.push([
      r.name,
      rate.toFixed(0),
      percentile(delays, 50).toFixed(0),
      percentile(delays, 99).toFixed(0),
      Math.max(...delays).toFixed(0),
    ]);
  }
  console.log(
    `observe-logs: one task writing ${BURST * 10} lines/s, both readers side by side for ${WINDOW_MS / 1000} s`,
  );
  printTable(rows, 'lrrrr');
  const fleet = p99.get('fleet service logs -f') ?? NaN;
  const docker = p99.get('docker logs -f') ?? NaN;
  const limit = 1.5 * docker + 100;
  goalLine(
    `fleet p99 <= 1.5x docker p99 + 100 ms (is ${fleet.toFixed(0)} ms, limit ${limit.toFixed(0)} ms)`,
    Number.isNaN(fleet) || Number.isNaN(docker) ? null : fleet <= limit,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
