// The web dashboard in a real Chromium against a manager and two process agents: sign-in, lists, scale, a node turning red; and its refusals.
// test-lane: own-addresses
import { killTasksOf } from '../helpers/processes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  REPO,
  cliOk,
  freePort,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { dashRequest, launchChromium, mintToken, signIn } from '../helpers/dashboard.js';
import { waitFor } from '../helpers/wait.js';

const HOST = '127.0.23.1';
const AGENTS = ['127.0.23.2', '127.0.23.3'];
const CSRF = { 'x-fleet-csrf': '1' };

interface Cluster {
  m: ManagerProc;
  agents: AgentProc[];
  base: string;
  metrics: string;
}

async function startCluster(t: { after(fn: () => Promise<void>): void }): Promise<Cluster> {
  const dashPort = await freePort();
  const metricsPort = await freePort();
  const m = await startManager({
    host: HOST,
    heartbeat: '500ms',
    extraArgs: [
      ...['--dashboard-addr', `${HOST}:${dashPort}`],
      ...['--metrics-addr', `${HOST}:${metricsPort}`, '--metrics-auth'],
      ...['--stats-interval', '1s'],
    ],
  });
  const agents = AGENTS.map((address, i) =>
    startAgent({
      manager: m.address,
      token: m.workerToken,
      name: `dash-${i + 1}`,
      address,
      runtime: 'process',
      extraArgs: ['--remove-tasks-on-stop'],
    }),
  );
  t.after(async () => {
    await cliOk(m, ['service', 'rm', 'web']).catch(() => undefined);
    for (const a of agents) await stopProc(a.proc);
    for (const address of AGENTS) await killTasksOf(address);
    await stopProc(m.proc);
    for (const d of [m.dataDir, ...agents.map((a) => a.dataDir)])
      await fs.rm(d, { recursive: true, force: true });
  });
  await waitForNodes(m, 2);
  return {
    m,
    agents,
    base: `https://${HOST}:${dashPort}`,
    metrics: `http://${HOST}:${metricsPort}`,
  };
}

test('the dashboard API and /metrics refuse requests without a token, and a read-only token cannot scale', async (t) => {
  const { m, base, metrics } = await startCluster(t);
  await cliOk(m, [
    'service',
    'create',
    '--detach',
    '--name',
    'web',
    'busybox',
    '--',
    'sleep',
    '600',
  ]);
  for (const p of ['/api/me', '/api/feed', '/api/nodes/x/tasks']) {
    const r = await dashRequest(m, `${base}${p}`);
    assert.equal(r.status, 401, `${p} without a session`);
  }
  const anon = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: CSRF,
    body: { action: 'scale', service: 'web', replicas: 2 },
  });
  assert.equal(anon.status, 401);
  const bad = await dashRequest(m, `${base}/api/session`, {
    method: 'POST',
    body: { token: 'FLEETDASH-abcdefgh-not-a-real-secret-at-all' },
  });
  assert.equal(bad.status, 401);

  assert.equal((await fetch(`${metrics}/metrics`)).status, 401, '/metrics without a token');
  const wrong = { authorization: 'Bearer FLEETDASH-abcdefgh-0123456789abcdef0123' };
  assert.equal((await fetch(`${metrics}/metrics`, { headers: wrong })).status, 401);

  const wall = await mintToken(m, 'wall', true);
  const full = await mintToken(m, 'ops');
  const scraped = await fetch(`${metrics}/metrics`, {
    headers: { authorization: `Bearer ${wall}` },
  });
  assert.equal(scraped.status, 200, 'a dashboard token scrapes /metrics');
  assert.match(await scraped.text(), /fleet_raft_is_leader/);

  const wallCookie = await signIn(m, base, wall);
  const me = await dashRequest(m, `${base}/api/me`, { headers: { cookie: wallCookie } });
  assert.equal(me.status, 200);
  assert.deepEqual(JSON.parse(me.body), {
    name: 'wall',
    readOnly: true,
    sources: { events: true, logs: true },
  });
  const scale = { action: 'scale', service: 'web', replicas: 2 };
  const refused = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: { ...CSRF, cookie: wallCookie },
    body: scale,
  });
  assert.equal(refused.status, 403, 'a read-only token cannot scale');

  const fullCookie = await signIn(m, base, full);
  const noHeader = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: { cookie: fullCookie },
    body: scale,
  });
  assert.equal(noHeader.status, 403, 'an action without the CSRF header is refused');
  const crossSite = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: { ...CSRF, cookie: fullCookie, origin: 'https://elsewhere.example' },
    body: scale,
  });
  assert.equal(crossSite.status, 403, 'an action from another origin is refused');
  const unknown = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: { ...CSRF, cookie: fullCookie },
    body: { action: 'explode' },
  });
  assert.equal(unknown.status, 400);
  const huge = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: { ...CSRF, cookie: fullCookie },
    body: { action: 'scale', service: 'x'.repeat(40_000), replicas: 1 },
  });
  assert.equal(huge.status, 400, 'an oversized body is refused with an answer');
  const badId = await dashRequest(m, `${base}/api/nodes/%E0%A4%A/tasks`, {
    headers: { cookie: fullCookie },
  });
  assert.equal(badId.status, 400);
  const missing = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: { ...CSRF, cookie: fullCookie },
    body: { action: 'rollback', service: 'nope' },
  });
  assert.equal(missing.status, 404, missing.body);
  const ok = await dashRequest(m, `${base}/api/actions`, {
    method: 'POST',
    headers: { ...CSRF, cookie: fullCookie },
    body: scale,
  });
  assert.equal(ok.status, 200, ok.body);
  const ls = await cliOk(m, ['service', 'ls']);
  assert.match(ls, /web\s+replicated\s+\d\/2/);

  await cliOk(m, ['dashboard', 'token', 'rm', 'ops']);
  const revoked = await dashRequest(m, `${base}/api/me`, { headers: { cookie: fullCookie } });
  assert.equal(revoked.status, 401, 'a revoked token signs its browsers out');
  const tokens = await cliOk(m, ['dashboard', 'token', 'ls']);
  assert.match(tokens, /wall\s+read-only/);
  assert.doesNotMatch(tokens, /\bops\b/);
});

test('in Chromium: sign in, see nodes and services, scale until it converges, a live log line, a killed node turns red without a reload, revoking signs out', async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  t.after(() => browser.close());
  const { m, agents, base } = await startCluster(t);
  const shots = tempDir('dash-shots');
  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  };
  await cliOk(m, [
    'service',
    'create',
    '--detach',
    '--name',
    'web',
    'busybox',
    '--',
    'sleep',
    '600',
  ]);
  await cliOk(m, [
    'service',
    'create',
    '--detach',
    '--name',
    'talker',
    'busybox',
    '--',
    'sh',
    '-c',
    'i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "tick $i"; sleep 1; done',
  ]);
  const token = await mintToken(m, 'browser');
  const page = await browser.newPage();
  await page.goto(base, { waitUntil: 'load' });
  await page.waitForSelector('#token');
  await page.type('#token', token);
  await page.click('form.signin button[type=submit]');

  await page.waitForSelector('tr[data-node="dash-1"][data-status="ready"]', { timeout: 20_000 });
  await page.waitForSelector('tr[data-node="dash-2"][data-status="ready"]');
  await page.waitForSelector('tr[data-service="web"][data-running="1"]', { timeout: 30_000 });
  const panelText = (id: string): Promise<unknown> =>
    page.evaluate(`document.getElementById('${id}').textContent`);
  await waitFor(async () => /task\s+web\.1: running/.test(String(await panelText('events'))), {
    what: 'the events panel to list the task starting',
  });
  await page.click('tr[data-service="talker"] a[href="#logs"]');
  const ticks = async (): Promise<number[]> =>
    [...String(await panelText('logs')).matchAll(/talker\.1 tick (\d+)/g)].map((x) => Number(x[1]));
  const seen = await waitFor(async () => ((await ticks()).length > 0 ? await ticks() : undefined), {
    what: 'a log line of talker in the logs panel',
    timeoutMs: 20_000,
  });
  await waitFor(async () => Math.max(...(await ticks())) > Math.max(...seen), {
    what: 'a new log line appearing live in the logs panel',
    timeoutMs: 20_000,
  });
  // Page code runs in the browser: as text, since this build has no DOM types.
  await page.evaluate('window.loadedOnce = true');
  await shot('1-signed-in');

  // Set in one input event: cleared and typed key by key, a render in between could leave "13".
  await page.evaluate(`(() => {
    const box = document.querySelector('tr[data-service="web"] input.replicas');
    box.value = '3';
    box.dispatchEvent(new Event('input', { bubbles: true }));
  })()`);
  await page.click('tr[data-service="web"] button[type=submit]');
  await page.waitForSelector('tr[data-service="web"][data-running="3"][data-desired="3"]', {
    timeout: 30_000,
  });
  const ps = await cliOk(m, ['service', 'ps', 'web']);
  assert.equal(ps.match(/Running\s+Running/g)?.length, 3, ps);
  await page.click('tr[data-node="dash-1"]');
  await page.waitForSelector('.detail tr[data-task^="web."]', { timeout: 10_000 });
  await shot('2-scaled');

  const [first] = agents;
  assert.ok(first);
  await stopProc(first.proc, 'SIGKILL');
  await page.waitForSelector('tr[data-node="dash-1"][data-status="down"]', { timeout: 30_000 });
  const colour = await page.evaluate(
    `getComputedStyle(document.querySelector('tr[data-node="dash-1"] td')).backgroundColor`,
  );
  assert.equal(colour, 'rgb(254, 226, 226)', 'the row of a down node is red');
  const same = await page.evaluate('window.loadedOnce');
  assert.equal(same, true, 'the page was not reloaded');
  await waitFor(async () => /node\s+dash-1: down/.test(String(await panelText('events'))), {
    what: 'the events panel to show the node going down, live',
  });
  await waitFor(
    async () => (await page.$('tr[data-node="dash-2"][data-status="ready"]')) !== null,
    {
      what: 'the other node to stay ready',
    },
  );
  await shot('3-node-down');
  await cliOk(m, ['dashboard', 'token', 'rm', 'browser']);
  await page.waitForSelector('#token', { timeout: 20_000 });
  if (process.env.FLEET_UPDATE_SCREENSHOT === '1')
    await fs.copyFile(
      path.join(shots, '3-node-down.png'),
      path.join(REPO, 'docs', 'images', 'dashboard.png'),
    );
  t.diagnostic(`screenshots in ${shots}`);
});
