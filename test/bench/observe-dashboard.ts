// Benchmark: the dashboard with 1,000 simulated nodes: first load in Chromium, snapshot size, and how fast a change reaches the page.
import https from 'node:https';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { freePort, type ManagerProc } from '../helpers/cluster.js';
import { launchChromiumFor, mintToken, signIn } from '../helpers/dashboard.js';
import type { MqttClient } from 'mqtt';
import type { Identity } from '../../shared/identity.js';
import { connectNode, joinNodes } from '../helpers/sim-agents.js';
import { encode, topics } from '../../shared/protocol.js';
import { createGunzip } from 'node:zlib';
import {
  CpuMeter,
  adminClient,
  goalLine,
  sleep,
  percentile,
  printTable,
  startBenchManager,
  stopProc,
} from './lib.js';

const HOST = '127.0.23.1';
const NODES = Number(process.env.FLEET_BENCH_NODES ?? 1000);
const LOADS = 5;
const CHANGES = 10;
const HEARTBEAT_MS = 2_000;
const FIRST_LOAD_GOAL_MS = 1_000;
const CPU_WINDOW_MS = 10_000;

async function main(): Promise<void> {
  const dashPort = await freePort();
  const base = `https://${HOST}:${dashPort}`;
  const m = await startBenchManager({
    host: HOST,
    heartbeat: `${HEARTBEAT_MS}ms`,
    extraArgs: ['--dashboard-addr', `${HOST}:${dashPort}`],
  });
  let browser: Browser | null = null;
  let stopBeats: (() => Promise<void>) | null = null;
  try {
    console.log(`joining ${NODES} simulated nodes…`);
    const t0 = performance.now();
    const ids = await joinNodes(m.address, m.workerToken, NODES, 'sim', 5);
    // joinNodes names node i `sim-i`: the last few are the ones changed, each unique in a filter.
    const victims = ids
      .slice(-CHANGES)
      .map((v, i) => ({ ...v, name: `sim-${NODES - CHANGES + i}` }));
    const steady = ids.slice(0, ids.length - victims.length);
    const steadyClients = await connectInBatches(m.address, steady);
    const victimClients = await connectInBatches(m.address, victims);
    console.log(`joined and connected in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const clients = [...steadyClients, ...victimClients];
    const beating = startBeats(clients, [...steady, ...victims]);
    stopBeats = async () => {
      beating.stop();
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    };
    await waitAllReady(m, NODES);
    const token = await mintToken(m, 'bench');
    const cookie = await signIn(m, base, token);
    const sizes = {
      plain: await firstSnapshotBytes(m, base, cookie, false),
      gzip: await firstSnapshotBytes(m, base, cookie, true),
    };
    const cpuIdle = await managerCpu(m);
    browser = await launchChromiumFor();

    const loads: Load[] = [];
    for (let i = 0; i < LOADS; i++) loads.push(await firstLoad(browser, base, cookie, NODES));
    const page = await openSignedIn(browser, base, cookie, NODES);
    const client = await adminClient(m);
    const drains: number[] = [];
    for (const v of victims) {
      await filterTo(page, v.name);
      const t0 = performance.now();
      await client.call('node.update', { node: v.id, availability: 'drain' });
      await page.waitForSelector(`tr[data-node="${v.name}"][data-avail="drain"]`);
      drains.push(performance.now() - t0);
    }
    const downs: number[] = [];
    for (const [i, c] of victimClients.entries()) {
      const v = victims[i];
      if (!v) continue;
      await filterTo(page, v.name);
      const t0 = performance.now();
      c.stream.destroy();
      await page.waitForSelector(`tr[data-node="${v.name}"][data-status="down"]`, {
        timeout: 60_000,
      });
      downs.push(performance.now() - t0);
    }
    await client.close();
    const cpuWatched = await managerCpu(m);
    const heap = (await page.metrics()).JSHeapUsedSize ?? 0;
    report({ sizes, loads, drains, downs, cpuIdle, cpuWatched, heap });
  } finally {
    await browser?.close();
    await stopBeats?.();
    await stopProc(m.proc);
    await fs.rm(m.dataDir, { recursive: true, force: true });
  }
}

interface Figures {
  sizes: { plain: number; gzip: number };
  loads: Load[];
  drains: number[];
  downs: number[];
  cpuIdle: number;
  cpuWatched: number;
  heap: number;
}

function report(f: Figures): void {
  const { drains, downs } = f;
  const loads = f.loads.map((l) => l.total);
  const ms = (v: number): string => v.toFixed(0);
  printTable(
    [
      ['measure', 'median ms', 'p90 ms', 'max ms', 'trials'],
      ...(
        [
          ['first load (sign-in cookie set, cold cache)', loads],
          ['  of which: navigation -> script loaded', f.loads.map((l) => l.script)],
          ['  of which: navigation -> snapshot applied', f.loads.map((l) => l.snapshot)],
          ['change committed -> row updated (drain)', drains],
          ['connection lost -> row red (node down)', downs],
        ] as const
      ).map(([name, v]) => [
        name,
        ms(percentile(v, 50)),
        ms(percentile(v, 90)),
        ms(Math.max(...v)),
        String(v.length),
      ]),
    ],
    'lrrrr',
  );
  const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;
  console.log(
    `snapshot of ${NODES} nodes: ${kib(f.sizes.plain)} plain, ${kib(f.sizes.gzip)} gzipped (${(f.sizes.plain / f.sizes.gzip).toFixed(1)}x)`,
  );
  console.log(
    `manager CPU with ${NODES} nodes heartbeating: ${f.cpuIdle.toFixed(1)}% of a core with no dashboard open, ${f.cpuWatched.toFixed(1)}% with one open (${(f.cpuWatched - f.cpuIdle).toFixed(1)} points for the dashboard)`,
  );
  console.log(`page JS heap with ${NODES} nodes: ${(f.heap / 1024 / 1024).toFixed(1)} MiB`);
  const median = percentile(loads, 50);
  goalLine(
    `dashboard first load <= ${FIRST_LOAD_GOAL_MS} ms with ${NODES} nodes (median ${ms(median)} ms)`,
    median <= FIRST_LOAD_GOAL_MS,
  );
}

/** One first load: its total, and when the script and the snapshot arrived, from navigation. */
interface Load {
  total: number;
  script: number;
  snapshot: number;
}

/** From navigation to every node counted in the page, in a fresh browser context each time. */
async function firstLoad(browser: Browser, base: string, cookie: string, n: number): Promise<Load> {
  const ctx = await browser.createBrowserContext();
  try {
    const page = await ctx.newPage();
    await setCookie(page, base, cookie);
    const t0 = performance.now();
    await page.goto(base);
    await waitForCount(page, n);
    const total = performance.now() - t0;
    const marks = (await page.evaluate(`(() => {
      const script = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/app.js'));
      const snap = performance.getEntriesByName('fleet-snapshot')[0];
      return { script: script ? script.responseEnd : 0, snapshot: snap ? snap.startTime : 0 };
    })()`)) as { script: number; snapshot: number };
    return { total, ...marks };
  } finally {
    await ctx.close();
  }
}

async function openSignedIn(
  browser: Browser,
  base: string,
  cookie: string,
  n: number,
): Promise<Page> {
  const page = await browser.newPage();
  await setCookie(page, base, cookie);
  await page.goto(base);
  await waitForCount(page, n);
  return page;
}

async function setCookie(page: Page, base: string, cookie: string): Promise<void> {
  const [name = '', value = ''] = cookie.split('=');
  await page.setCookie({
    name,
    value,
    url: base,
    secure: true,
    httpOnly: true,
    sameSite: 'Strict',
  });
}

/** Waits until the node panel counts at least n nodes (the manager's own node is one more). */
async function waitForCount(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    `(() => { const s = document.querySelector('#nodes h2 small'); return s && parseInt(s.textContent) >= ${n}; })()`,
    { timeout: 30_000, polling: 'mutation' },
  );
}

/**
 * Sets the filter box in one step, as one input event: typed key by key, a render between
 * clearing and typing could put the old filter back first.
 */
async function filterTo(page: Page, name: string): Promise<void> {
  await page.evaluate(`(() => {
    const box = document.querySelector('#nodes input[type=search]');
    box.value = ${JSON.stringify(name)};
    box.dispatchEvent(new Event('input', { bubbles: true }));
  })()`);
  await page.waitForSelector(`tr[data-node="${name}"]`);
}

async function waitAllReady(m: ManagerProc, n: number): Promise<void> {
  const client = await adminClient(m);
  try {
    for (let i = 0; i < 120; i++) {
      const nodes = await client.call('node.ls', {});
      if (nodes.filter((x) => x.role === 'worker' && x.status === 'ready').length >= n) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`not all ${n} nodes became ready`);
  } finally {
    await client.close();
  }
}

/** Connects the nodes a few at a time: a thousand TLS handshakes at once time out on a small machine. */
async function connectInBatches(address: string, nodes: Identity[]): Promise<MqttClient[]> {
  const out: MqttClient[] = [];
  for (let i = 0; i < nodes.length; i += 25) {
    const batch = await Promise.all(nodes.slice(i, i + 25).map((n) => connectNode(address, n)));
    for (const c of batch) c.on('error', () => undefined);
    out.push(...batch);
  }
  return out;
}

/** Heartbeats every connected node each period, spread over it; a destroyed connection stops. */
function startBeats(clients: MqttClient[], nodes: Identity[]): { stop(): void } {
  let seq = 0;
  let i = 0;
  const perTick = Math.max(1, Math.ceil(clients.length / (HEARTBEAT_MS / 100)));
  const timer = setInterval(() => {
    for (let k = 0; k < perTick; k++, i = (i + 1) % clients.length) {
      const c = clients[i];
      const id = nodes[i]?.id;
      if (c?.connected && id)
        c.publish(topics.heartbeat(id), encode({ v: 1, seq: seq++, ts: Date.now() }), { qos: 0 });
    }
  }, 100);
  return { stop: () => clearInterval(timer) };
}

/** Bytes on the wire until the snapshot event a browser gets first is complete. */
async function firstSnapshotBytes(
  m: ManagerProc,
  base: string,
  cookie: string,
  gzip: boolean,
): Promise<number> {
  const ca = await fs.readFile(path.join(m.dataDir, 'dashboard-ca.pem'), 'utf8');
  const headers = { cookie, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) };
  return new Promise((resolve, reject) => {
    const req = https.get(`${base}/api/feed?topics=state`, { ca, headers }, (res) => {
      let wire = 0;
      let text = '';
      res.on('data', (c: Buffer) => (wire += c.length));
      const body = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip()) : res;
      body.on('data', (c: Buffer) => {
        text += c.toString();
        const start = text.indexOf('event: snapshot\n');
        if (start >= 0 && text.indexOf('\n\n', start) > 0) {
          resolve(wire);
          req.destroy();
        }
      });
    });
    req.on('error', reject);
  });
}

/** The manager's CPU (% of one core) over a few seconds of this. */
async function managerCpu(m: ManagerProc): Promise<number> {
  const meter = new CpuMeter(m.proc.pid ?? 0);
  meter.start();
  await sleep(CPU_WINDOW_MS);
  return meter.read();
}

await main();
