// The soak's pure parts: the seeded schedule, the workload file, the checks against faults and actions, drift fits, the report page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Checks } from '../../manager/cli/soak/checks.js';
import { driftViolations, drifts, slope } from '../../manager/cli/soak/drift.js';
import type { ActionRecord, FaultRecord, Observation } from '../../manager/cli/soak/model.js';
import { renderHtml, summarize, type RunRecord } from '../../manager/cli/soak/report.js';
import { parseChaosList, pickTarget, planFaults } from '../../manager/cli/soak/schedule.js';
import { DEFAULT_WORKLOAD, parseWorkload, planActions } from '../../manager/cli/soak/workload.js';
import { resolveTarget } from '../../manager/cli/soak/targets.js';
import { serviceSpecSchema } from '../../shared/spec.js';

test('a seed replays the same faults, one at a time, all ending before the run does', () => {
  const o = {
    seed: 42,
    durationMs: 600_000,
    kinds: parseKinds('kill-agent,partition,restart-manager'),
    gapMs: 15_000,
  };
  const a = planFaults(o);
  assert.deepEqual(planFaults(o), a);
  assert.notDeepEqual(planFaults({ ...o, seed: 43 }), a);
  assert.ok(a.length > 10);
  for (const [i, f] of a.entries()) {
    assert.ok(f.at + f.durationMs <= o.durationMs);
    const prev = a[i - 1];
    if (prev) assert.ok(f.at > prev.at + prev.durationMs, 'faults do not overlap');
  }
  assert.deepEqual(new Set(a.map((f) => f.kind)), new Set(o.kinds));
  assert.deepEqual(planFaults({ ...o, kinds: [] }), []);
});

function parseKinds(text: string) {
  const r = parseChaosList(text);
  assert.ok('kinds' in r);
  return r.kinds;
}

test('--chaos names are checked; all and none are words of their own', () => {
  assert.deepEqual(parseChaosList('kill-agent,bogus,x'), { unknown: ['bogus', 'x'] });
  assert.equal(parseKinds('all').length, 13);
  assert.deepEqual(parseKinds('none'), []);
  assert.deepEqual(parseKinds('partition, partition'), ['partition']);
});

test('targets are picked among sorted eligible nodes; real-only faults skip simulated boards', () => {
  const node = (id: string, role: 'manager' | 'worker', sim = false) => ({
    id,
    name: id,
    role,
    status: 'ready',
    sim,
    agent: true,
    address: '127.0.0.1',
  });
  const obs: Observation = {
    t: 0,
    answered: true,
    leader: 'm2',
    services: [],
    tasks: [],
    nodes: [
      node('m1', 'manager'),
      node('m2', 'manager'),
      node('s1', 'worker', true),
      node('s2', 'worker', true),
      node('w1', 'worker'),
    ],
  };
  const fault = (kind: Parameters<typeof resolveTarget>[0]['kind'], pick: number) =>
    resolveTarget({ n: 1, at: 0, kind, durationMs: 1, pick, params: {} }, obs);
  assert.deepEqual(fault('kill-leader', 0), { node: obs.nodes[1], fault: 'kill-manager' });
  assert.equal((fault('restart-engine', 0) as { node: { id: string } }).node.id, 'w1');
  assert.equal((fault('kill-agent', 0) as { node: { id: string } }).node.id, 's1');
  assert.equal((fault('kill-agent', 0.99) as { node: { id: string } }).node.id, 'w1');
  assert.equal((fault('partition-manager', 0.6) as { node: { id: string } }).node.id, 'm2');
  assert.equal(pickTarget(0.5, []), null);
});

test('the default workload is valid; a workload file with a mistake is refused with the field named', () => {
  assert.equal(DEFAULT_WORKLOAD.churn.name, 'soak-churn');
  assert.ok(
    serviceSpecSchema.safeParse({
      name: 'x',
      task: { image: 'i' },
      constraints: DEFAULT_WORKLOAD.probe?.constraints,
    }).success,
  );
  const w = parseWorkload('churn: { min: 1, max: 3 }\nevery: 2s\nprobe: null\n', 'w.yml');
  assert.equal(w.every, 2_000);
  assert.equal(w.probe, null);
  assert.throws(
    () => parseWorkload('churn: { min: 5, max: 3 }', 'w.yml'),
    /churn.min \(5\) is above churn.max/,
  );
  assert.throws(() => parseWorkload('every: soon', 'w.yml'), /w.yml: every: not a duration/);
  assert.throws(() => parseWorkload('chrun: {}', 'w.yml'), /w.yml: .*chrun/);
  assert.throws(() => parseWorkload('a: [', 'w.yml'), /w.yml: not YAML/);
  const actions = planActions(w, 7, 60_000);
  assert.deepEqual(planActions(w, 7, 60_000), actions);
  assert.ok(actions.every((a) => a.kind !== 'scale' || (a.replicas >= 1 && a.replicas <= 3)));
});

function obsAt(
  t: number,
  running: number,
  desired: number,
  extra: Partial<Observation> = {},
): Observation {
  return {
    t,
    answered: true,
    leader: 'm1',
    nodes: [
      {
        id: 'n1',
        name: 'n1',
        role: 'worker',
        status: 'ready',
        sim: false,
        agent: true,
        address: '127.0.0.1',
      },
    ],
    services: [{ name: 'web', running, desired }],
    tasks: [
      {
        id: 'a',
        service: 'web',
        slot: 1,
        node: 'n1',
        desiredState: 'running',
        state: 'running',
        restarts: 0,
      },
    ],
    ...extra,
  };
}

test('replicas short of desired past the bound after the last fault is a violation with its time', () => {
  const faults: FaultRecord[] = [
    { n: 1, kind: 'partition', target: 'n1', targetName: 'n1', start: 0, end: 5_000 },
  ];
  const c = new Checks({ boundMs: 10_000 }, faults, []);
  for (let t = 0; t <= 14_000; t += 1_000) c.observe(obsAt(t, 1, 2));
  assert.equal(c.violations.length, 0, 'within the bound after the fault ended');
  for (let t = 15_000; t <= 17_000; t += 1_000) c.observe(obsAt(t, 1, 2));
  c.observe(obsAt(18_000, 2, 2));
  assert.equal(c.violations.length, 1);
  assert.equal(c.violations[0]?.invariant, 'replicas-converge');
  assert.equal(c.violations[0]?.from, 15_000);
  assert.equal(c.violations[0]?.to, 18_000);
});

test('a replaced task needs a cause: an action on its service or a fault on its node', () => {
  const faults: FaultRecord[] = [];
  const actions: ActionRecord[] = [];
  const c = new Checks({ boundMs: 10_000 }, faults, actions);
  const withTask = (t: number, id: string) =>
    obsAt(t, 1, 1, {
      tasks: [
        {
          id,
          service: 'web',
          slot: 1,
          node: 'n1',
          desiredState: 'running',
          state: 'running',
          restarts: 0,
        },
      ],
    });
  c.observe(withTask(0, 'a'));
  actions.push({ at: 1_000, kind: 'update', service: 'web', detail: '', acked: true });
  c.observe(withTask(2_000, 'b'));
  faults.push({
    n: 1,
    kind: 'restart-engine',
    target: 'n1',
    targetName: 'n1',
    start: 50_000,
    end: 52_000,
  });
  c.observe(withTask(53_000, 'c'));
  assert.equal(c.violations.length, 0);
  faults.push({
    n: 2,
    kind: 'kill-agent',
    target: 'n2',
    targetName: 'n2',
    start: 100_000,
    end: 102_000,
  });
  c.observe(withTask(103_000, 'd'));
  assert.equal(c.violations.length, 1, 'a fault on another node is no cause');
  assert.equal(c.violations[0]?.invariant, 'no-unexplained-restart');
  assert.match(c.violations[0]?.detail ?? '', /web\.1 was replaced \(c → d\)/);
});

test('a node down with no fault on it is a false alarm; the board forgetting a task is a stuck task', () => {
  const faults: FaultRecord[] = [
    { n: 1, kind: 'kill-leader', target: 'm1', targetName: 'm1', start: 0, end: 3_000 },
  ];
  const c = new Checks({ boundMs: 10_000 }, faults, []);
  const down = obsAt(2_000, 1, 1, {
    nodes: [
      { id: 'n1', name: 'n1', role: 'worker', status: 'down', sim: true, agent: true, address: '' },
    ],
  });
  c.observe(down);
  assert.equal(c.violations[0]?.invariant, 'no-false-down');
  const o = obsAt(20_000, 1, 1);
  c.boardTruth({ t: 20_000, node: 'n1', running: [] }, o);
  c.boardTruth({ t: 31_000, node: 'n1', running: [] }, o);
  c.boardTruth({ t: 35_000, node: 'n1', running: ['a'] }, o);
  const stuck = c.violations.find((v) => v.invariant === 'no-stuck-task');
  assert.match(stuck?.detail ?? '', /does not run web\.1/);
  assert.equal(stuck?.to, 35_000);
});

test('managers that disagree past the bound are reported; one not answering is not a disagreement', () => {
  const c = new Checks({ boundMs: 5_000 }, [], []);
  c.managers({ t: 0, views: { a: 'web:2', b: null } });
  c.managers({ t: 1_000, views: { a: 'web:2', b: 'web:3' } });
  c.managers({ t: 7_000, views: { a: 'web:2', b: 'web:3' } });
  assert.equal(c.violations.length, 1);
  assert.equal(c.violations[0]?.invariant, 'managers-agree');
});

test('drift: a least-squares slope, restarts split a series, growth over ten minutes is reported', () => {
  assert.equal(
    slope([
      [0, 1],
      [1, 3],
      [2, 5],
    ]),
    2,
  );
  assert.equal(slope([[1, 1]]), 0);
  const MB = 1024 * 1024;
  const samples = Array.from({ length: 70 }, (_, i) => ({
    t: i * 10_000,
    process: 'agent a',
    rssBytes: (50 + i) * MB,
    openFiles: 20,
    cpuMs: i * 100,
  }));
  const flat = samples.map((s) => ({ ...s, process: 'agent b', rssBytes: 50 * MB }));
  const d = drifts([...samples, ...flat], 700_000);
  const a = d.find((x) => x.process === 'agent a');
  assert.ok(a && Math.abs(a.rssMbPerHour - 360) < 1);
  const v = driftViolations(d);
  assert.equal(v.length, 1);
  assert.match(v[0]?.detail ?? '', /^agent a: RSS 360\.0 MB\/h/);
  const restarted = [
    ...samples.slice(0, 10),
    ...samples.slice(10).map((s) => ({ ...s, cpuMs: s.cpuMs - 5_000 })),
  ];
  assert.equal(drifts(restarted, 700_000)[0]?.samples, 60);
});

test('the report page is self-contained: inline SVG plots, no script or fetched resource; the summary says pass or fail', () => {
  const r: RunRecord = {
    version: '0.1.0',
    seed: 9,
    startedAt: '2026-12-07T00:00:00.000Z',
    durationMs: 120_000,
    endedMs: 130_000,
    chaos: ['kill-agent'],
    simulate: 50,
    boundMs: 60_000,
    faults: [
      {
        n: 1,
        kind: 'kill-agent',
        target: 'n1',
        targetName: 'sim-1',
        start: 10_000,
        end: 14_000,
        convergedAfter: 6_000,
      },
    ],
    actions: [{ at: 5_000, kind: 'scale', service: 'web', detail: 'to 3', acked: true }],
    violations: [{ invariant: 'no-stuck-task', from: 50_000, detail: 'web.1 <stuck>' }],
    probes: [{ t: 5_000, node: 'n1', ok: 5, failed: 1 }],
    processes: [
      { t: 0, process: 'manager m1', rssBytes: 80e6, openFiles: 40, cpuMs: 10 },
      { t: 10_000, process: 'manager m1', rssBytes: 81e6, openFiles: 40, cpuMs: 500 },
    ],
    lag: [{ t: 10_000, p50: 300, max: 900 }],
    writes: { acked: 3, lost: [], unacked: 0 },
  };
  const s = summarize(r);
  assert.equal(s.passed, false);
  assert.deepEqual(
    s.invariants.filter((i) => !i.ok).map((i) => i.name),
    ['no-stuck-task'],
  );
  assert.equal(s.convergenceMs.max, 6_000);
  const html = renderHtml(r, s);
  assert.ok((html.match(/<svg /g) ?? []).length >= 6);
  assert.doesNotMatch(html, /<script|src=|href=/);
  assert.match(html, /web\.1 &#60;stuck&#62;/);
  assert.match(html, /--seed 9/);
});

test("a global service's tasks are told apart by node, not by their shared slot", () => {
  const c = new Checks({ boundMs: 10_000 }, [], []);
  const task = (id: string, node: string) => ({
    id,
    service: 'probe',
    slot: 0,
    node,
    desiredState: 'running',
    state: 'running',
    restarts: 0,
  });
  c.observe(obsAt(0, 1, 1, { tasks: [task('a', 'n1'), task('b', 'n2')] }));
  c.observe(obsAt(1_000, 1, 1, { tasks: [task('b', 'n2'), task('a', 'n1')] }));
  assert.equal(c.violations.length, 0);
  c.observe(obsAt(2_000, 1, 1, { tasks: [task('c', 'n1'), task('b', 'n2')] }));
  assert.match(c.violations[0]?.detail ?? '', /probe@n1 was replaced \(a → c\)/);
});
