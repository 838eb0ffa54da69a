// Benchmark `os-image`: board image build time (warm package cache, then a changed agent only), sizes raw and compressed, first boot to ready under QEMU, and the board's idle memory.
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { bootBoard, qemuSystemMissing, type BoardVm } from '../helpers/board-vm.js';
import { cliJson, type NodeJson } from '../helpers/cluster.js';
import { fleetCli, osBuildMissing, OS_CACHE, tool } from '../helpers/os-build.js';
import {
  BUNDLE,
  fleetCli as clusterCli,
  goalLine,
  poll,
  printTable,
  startBenchManager,
  stopProc,
} from './lib.js';

const MB = 1e6;
const BENCH_CACHE = path.join(os.tmpdir(), 'fleet-bench-os-cache');
const MIN = 60_000;
const secs = (ms: number): string => (ms / 1000).toFixed(0);

/** A cache of its own whose package archive starts as a copy (hard links) of the tests' one. */
async function benchCache(): Promise<{ dir: string; debs: number }> {
  const dir = BENCH_CACHE;
  await fs.rm(dir, { recursive: true, force: true });
  const archives = path.join(dir, 'apt-archives');
  await fs.mkdir(archives, { recursive: true });
  const shared = path.join(OS_CACHE, 'apt-archives');
  const debs = (await fs.readdir(shared).catch(() => [])).filter((n) => n.endsWith('.deb'));
  for (const d of debs) await fs.link(path.join(shared, d), path.join(archives, d));
  // Node.js for arm64 is fetched from npm once; it is not what this measures.
  await fs
    .cp(path.join(OS_CACHE, 'node-20-arm64'), path.join(dir, 'node-20-arm64'), {
      recursive: true,
    })
    .catch(() => undefined);
  return { dir, debs: debs.length };
}

async function build(board: string, runtime: string, out: string, cache: string, agent?: string) {
  const t0 = Date.now();
  const r = await fleetCli([
    ...['os', 'build', '--board', board, '--runtime', runtime, '--out', out],
    ...['--cache-dir', cache, ...(agent ? ['--agent', agent] : [])],
  ]);
  if (r.code !== 0) throw new Error(`os build ${board} failed:\n${r.stderr}`);
  return { ms: Date.now() - t0, raw: (await fs.stat(out)).size };
}

async function xzSize(image: string): Promise<{ bytes: number; ms: number }> {
  const t0 = Date.now();
  await tool('xz', ['-T0', '-6', '-k', '-f', image]);
  const bytes = (await fs.stat(`${image}.xz`)).size;
  await fs.rm(`${image}.xz`);
  return { bytes, ms: Date.now() - t0 };
}

/** Collects one report posted by a task on the board (the host's 127.0.0.1 is its 10.0.2.2). */
function reportServer(): Promise<{ port: number; report: Promise<string>; close: () => void }> {
  return new Promise((ready) => {
    let deliver: (s: string) => void = () => undefined;
    const report = new Promise<string>((r) => (deliver = r));
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.end('ok');
        deliver(body);
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      ready({ port: typeof a === 'object' && a ? a.port : 0, report, close: () => server.close() });
    });
  });
}

/** A program for the board's Node.js: memory in use and the agent's resident size, posted home. */
const MEMORY_PROBE = (port: number): string =>
  [
    "const fs=require('fs');",
    "const m=Object.fromEntries(fs.readFileSync('/proc/meminfo','utf8').split('\\n').filter(Boolean).map(l=>{const[k,v]=l.split(':');return[k,parseInt(v)]}));",
    "let rss=0;for(const p of fs.readdirSync('/proc')){if(!/^\\d+$/.test(p))continue;let c='';try{c=fs.readFileSync('/proc/'+p+'/cmdline','utf8')}catch{}if(c.includes('fleet-agent.mjs\\0agent')){rss=parseInt(fs.readFileSync('/proc/'+p+'/status','utf8').match(/VmRSS:\\s+(\\d+)/)[1])}}",
    `require('http').request({host:'10.0.2.2',port:${port},method:'POST'},r=>r.resume()).end(JSON.stringify({total:m.MemTotal,available:m.MemAvailable,agentRss:rss}));`,
  ].join('');

async function bootMeasure(image: string, work: string): Promise<string[][]> {
  const m = await startBenchManager({ host: '127.0.0.1' });
  let vm: BoardVm | undefined;
  const probe = await reportServer();
  try {
    const port = m.address.split(':')[1] ?? '';
    const c = await fleetCli([
      'os',
      'configure',
      image,
      '--manager',
      `10.0.2.2:${port}`,
      '--token',
      m.workerToken,
    ]);
    if (c.code !== 0) throw new Error(`os configure failed: ${c.stderr}`);
    const t0 = Date.now();
    // A card larger than the image, as on a real board: the agent keeps 256 MiB free.
    await fs.truncate(image, (await fs.stat(image)).size + 2 ** 30);
    vm = await bootBoard(image, work);
    const ready = await poll(
      async () =>
        (await cliJson<NodeJson[]>(m, ['node', 'ls'])).find(
          (n) => n.role === 'worker' && n.status === 'ready',
        ),
      2_000,
      10 * MIN,
    );
    const bootMs = Date.now() - t0;
    if (!ready) throw new Error(`the board did not become ready (console: ${vm.consoleLog})`);
    // Idle: a minute after joining, with nothing running yet.
    await new Promise((r) => setTimeout(r, MIN));
    await clusterCli(m, [
      ...['service', 'create', '--detach', '--name', 'probe', '--restart-condition', 'none'],
      ...['busybox', '/usr/local/bin/node', '-e', MEMORY_PROBE(probe.port)],
    ]);
    const got = await Promise.race([
      probe.report,
      new Promise<string>((_, no) => setTimeout(() => no(new Error('no memory report')), 5 * MIN)),
    ]);
    const mem = JSON.parse(got) as { total: number; available: number; agentRss: number };
    const usedMb = (mem.total - mem.available) / 1024;
    return [
      ['first boot to ready (QEMU TCG, 2 vCPU)', `${secs(bootMs)} s`],
      [
        'board memory in use, idle (MemTotal - MemAvailable)',
        `${usedMb.toFixed(0)} MiB of ${(mem.total / 1024).toFixed(0)}`,
      ],
      ['agent resident memory', `${(mem.agentRss / 1024).toFixed(0)} MiB`],
    ];
  } finally {
    probe.close();
    await vm?.powerOff(60_000);
    await stopProc(m.proc);
  }
}

async function main(): Promise<void> {
  const missing = osBuildMissing() ?? qemuSystemMissing();
  if (missing) throw new Error(missing);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-bench-os-'));
  try {
    if (process.env.FLEET_BENCH_OS_BOOT_ONLY === '1') {
      // The first boot alone, from the image of an earlier run's cache (or a fresh build).
      const qemu = path.join(work, 'qemu.img');
      await build('qemu-arm64', 'process', qemu, BENCH_CACHE);
      printTable([['board under QEMU', 'measured'], ...(await bootMeasure(qemu, work))]);
      return;
    }
    const cache = await benchCache();
    const warm = cache.debs > 0 ? `warm package cache, ${cache.debs} .deb` : 'cold package cache';
    const qemu = path.join(work, 'qemu.img');
    const first = await build('qemu-arm64', 'process', qemu, cache.dir);
    const changed = path.join(work, 'agent.mjs');
    await fs.writeFile(changed, `${await fs.readFile(BUNDLE, 'utf8')}\n// changed\n`);
    const again = await build('qemu-arm64', 'process', qemu, cache.dir, changed);
    const qemuXz = await xzSize(qemu);
    const pi = path.join(work, 'rpi4.img');
    const piBuild = await build('rpi4', 'docker', pi, cache.dir);
    const piXz = await xzSize(pi);
    await fs.rm(pi);
    printTable([
      ['image', 'build', 'raw', 'xz -6', 'xz time'],
      [
        `qemu-arm64, process (${warm})`,
        `${secs(first.ms)} s`,
        `${(first.raw / MB).toFixed(0)} MB`,
        `${(qemuXz.bytes / MB).toFixed(0)} MB`,
        `${secs(qemuXz.ms)} s`,
      ],
      ['qemu-arm64, process, changed agent only', `${secs(again.ms)} s`, '', '', ''],
      [
        'rpi4, docker',
        `${secs(piBuild.ms)} s`,
        `${(piBuild.raw / MB).toFixed(0)} MB`,
        `${(piXz.bytes / MB).toFixed(0)} MB`,
        `${secs(piXz.ms)} s`,
      ],
    ]);
    goalLine(`build <= 10 min (${warm}): ${secs(first.ms)} s`, first.ms <= 10 * MIN);
    goalLine(`rebuild with a changed agent <= 1 min: ${secs(again.ms)} s`, again.ms <= MIN);
    goalLine(
      `raw without Docker <= 500 MB: ${(first.raw / MB).toFixed(0)} MB`,
      first.raw <= 500 * MB,
    );
    goalLine(
      `raw with Docker <= 800 MB: ${(piBuild.raw / MB).toFixed(0)} MB`,
      piBuild.raw <= 800 * MB,
    );
    const worstXz = Math.max(qemuXz.bytes, piXz.bytes);
    goalLine(`compressed <= 300 MB: ${(worstXz / MB).toFixed(0)} MB`, worstXz <= 300 * MB);
    printTable([['board under QEMU', 'measured'], ...(await bootMeasure(qemu, work))]);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
