// fleet soak end to end: three managers, two process boards and simulated boards under faults pass; a planted agent bug fails, naming the invariant.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  FLEET,
  clusterTarget,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { killTasksOf } from '../helpers/processes.js';

const MANAGER_HOSTS = ['127.0.45.11', '127.0.45.12', '127.0.45.13'];
const AGENTS = ['127.0.45.21', '127.0.45.22'];

interface SoakRun {
  code: number | null;
  stdout: string;
  stderr: string;
  summary: {
    passed: boolean;
    invariants: { name: string; ok: boolean }[];
    faults: { kind: string; error?: string }[];
  };
}

async function startRack(
  t: import('node:test').TestContext,
): Promise<{ managers: ManagerProc[]; agents: AgentProc[] }> {
  const managers: ManagerProc[] = [];
  const agents: AgentProc[] = [];
  t.after(async () => {
    await Promise.all(agents.map((a) => stopProc(a.proc)));
    await Promise.all(AGENTS.map((a) => killTasksOf(a)));
    await Promise.all(managers.map((m) => stopProc(m.proc)));
  });
  for (const host of MANAGER_HOSTS)
    managers.push(
      await startManager({
        host,
        extraArgs: ['--allow-chaos'],
        ...(managers[0] ? { join: managers[0] } : {}),
      }),
    );
  for (const [i, address] of AGENTS.entries())
    agents.push(
      startAgent({
        manager: managers.map((m) => m.address).join(','),
        token: managers[0]?.workerToken ?? '',
        name: `soak-board-${i + 1}`,
        address,
        runtime: 'process',
        extraArgs: ['--allow-chaos'],
      }),
    );
  await waitForNodes(managers[0] as ManagerProc, AGENTS.length);
  return { managers, agents };
}

function soak(
  managers: ManagerProc[],
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<SoakRun> {
  const target = clusterTarget(managers);
  const report = tempDir('soak-report');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        FLEET,
        'soak',
        '--host',
        target.address,
        '--identity',
        target.identity,
        '--report',
        report,
        ...args,
      ],
      { env: { ...process.env, ...env }, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        void fs
          .readFile(path.join(report, 'summary.json'), 'utf8')
          .then((text) => JSON.parse(text) as SoakRun['summary'])
          .catch(() => ({ passed: false, invariants: [], faults: [] }))
          .then(async (summary) => {
            const html = await fs
              .readFile(path.join(report, 'report.html'), 'utf8')
              .catch(() => '');
            assert.match(html, /<svg /, 'the report page has its plots');
            resolve({
              code: err ? ((err as { code?: number }).code ?? 1) : 0,
              stdout,
              stderr,
              summary,
            });
          });
      },
    );
  });
}

test(
  'a 2-minute soak of 3 managers, 2 boards and 50 simulated boards under kill-agent, restart-manager and partition passes',
  { timeout: 600_000 },
  async (t) => {
    const { managers } = await startRack(t);
    const r = await soak(managers, [
      '--duration',
      '2m',
      '--simulate',
      '50',
      '--simulate-address-base',
      '127.45.0.0',
      '--chaos',
      'kill-agent,restart-manager,partition',
      '--seed',
      '2112',
      '--gap',
      '8s',
    ]);
    const detail = `${r.stdout}\n${r.stderr.slice(-3000)}`;
    assert.equal(r.code, 0, detail);
    assert.equal(r.summary.passed, true, detail);
    assert.match(r.stdout, /^PASSED/m);
    const done = r.summary.faults.filter((f) => f.error === undefined).map((f) => f.kind);
    for (const kind of ['kill-agent', 'restart-manager', 'partition'])
      assert.ok(
        done.includes(kind),
        `a ${kind} was carried out: ${JSON.stringify(r.summary.faults)}`,
      );
  },
);

test(
  'an agent that forgets a task after a restart fails the soak, which names the broken invariant',
  { timeout: 600_000 },
  async (t) => {
    const { managers } = await startRack(t);
    const workload = path.join(tempDir('soak-workload'), 'w.yml');
    // Every board holds a task of the churn service, and nothing else restarts one.
    await fs.writeFile(workload, 'churn: { min: 14, max: 14 }\nevery: 1h\nprobe: null\n');
    const r = await soak(
      managers,
      [
        '--duration',
        '75s',
        '--simulate',
        '12',
        '--simulate-address-base',
        '127.45.1.0',
        '--chaos',
        'kill-agent',
        '--seed',
        '7',
        '--gap',
        '5s',
        '--bound',
        '20s',
        '--workload',
        workload,
      ],
      { FLEET_TEST_BUG: 'forget-task-after-restart' },
    );
    const detail = `${r.stdout}\n${r.stderr.slice(-3000)}`;
    assert.equal(r.code, 1, detail);
    assert.equal(r.summary.passed, false);
    const broken = r.summary.invariants.filter((i) => !i.ok).map((i) => i.name);
    assert.ok(
      broken.includes('no-stuck-task') || broken.includes('no-unexplained-restart'),
      `the forgotten task is named: ${broken.join(', ')}\n${detail}`,
    );
    assert.match(r.stdout, /^FAILED: .*(no-stuck-task|no-unexplained-restart)/m);
  },
);
