// Rolling updates on an in-memory store: orchestrator, scheduler and updater together, with
// simulated agents, on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { applyReport } from '../../manager/dispatcher/reports.js';
import { Orchestrator } from '../../manager/orchestrator/orchestrator.js';
import { Scheduler } from '../../manager/scheduler/scheduler.js';
import type { Command } from '../../manager/store/commands.js';
import type { Store } from '../../manager/store/store.js';
import { Updater } from '../../manager/updater/updater.js';
import { canaryCount } from '../../manager/updater/plan.js';
import { params, type Method, type Params } from '../../shared/api.js';
import { FakeClock } from '../../shared/clock.js';
import type { TaskReport } from '../../shared/protocol.js';
import {
  DEFAULT_UPDATE,
  isTerminal,
  serviceSpecSchema,
  type ServiceRecord,
  type TaskRecord,
} from '../../shared/spec.js';
import { nodeRecord } from '../helpers/records.js';
import { startControllers } from '../helpers/controllers.js';

const STEP_MS = 250;

interface Harness {
  store: Store;
  clock: FakeClock;
  call<M extends Method>(method: M, p: Params<M>): void;
  service(): ServiceRecord;
  live(): TaskRecord[];
  /** Runs agents and controllers for up to `ms` of fake time, until `done` holds. */
  run(ms: number, done?: () => boolean, each?: () => void): Promise<void>;
  stop(): void;
}

/**
 * Agents that start what they are given: a task whose image is in `bad` runs but its health
 * check fails; every other task runs and turns healthy (or has no check).
 */
function harness(bad: Set<string> = new Set()): Harness {
  const controllers = startControllers(
    ['a', 'b', 'c'].map((id) => nodeRecord(id)),
    (deps) => [new Orchestrator(deps), new Scheduler(deps), new Updater(deps)],
  );
  const { store, clock } = controllers;
  const ctx = (): HandlerContext => ({
    store,
    now: clock.now(),
    managerId: 'm',
    dataKey: new Uint8Array(32),
  });
  const report = (t: TaskRecord, r: Partial<TaskReport>): TaskRecord | null =>
    applyReport(
      t,
      {
        taskId: t.id,
        state: t.status.state,
        message: t.status.message,
        error: t.status.error,
        exitCode: null,
        hostPorts: [],
        runtimeId: 'c-' + t.id,
        restarts: 0,
        at: clock.now(),
        health: t.status.health ?? 'none',
        ...r,
      },
      clock.now(),
    );
  const agents = (): void => {
    const out: TaskRecord[] = [];
    for (const t of store.tasks()) {
      if (!t.nodeId || isTerminal(t.status.state)) continue;
      const checked = t.template.healthcheck !== undefined;
      let next: TaskRecord | null = null;
      if (t.desiredState === 'shutdown')
        next = report(t, { state: 'shutdown', message: 'stopped' });
      else if (t.status.state === 'assigned')
        next = report(t, { state: 'running', health: checked ? 'starting' : 'none' });
      else if (t.status.state === 'running' && t.status.health === 'starting')
        next = bad.has(t.template.image)
          ? report(t, {
              state: 'failed',
              health: 'unhealthy',
              error: 'health check failed: exit 1',
            })
          : report(t, { health: 'healthy' });
      if (next) out.push(next);
    }
    if (out.length > 0) store.apply({ commands: [{ type: 'tasks.put', tasks: out }] });
  };
  const service = (): ServiceRecord => {
    const s = store.serviceByName('web');
    assert.ok(s);
    return s;
  };
  return {
    store,
    clock,
    call(method, p) {
      const parsed = params[method].parse(p) as never;
      const handler = handlers[method] as (p: never, c: HandlerContext) => { commands?: Command[] };
      const out = handler(parsed, ctx());
      if (out.commands) store.apply({ commands: out.commands });
    },
    service,
    live: () => store.tasksOfService(service().id).filter((t) => t.desiredState === 'running'),
    async run(ms, done, each) {
      for (let elapsed = 0; elapsed <= ms; elapsed += STEP_MS) {
        for (let i = 0; i < 5; i++) await tick();
        agents();
        for (let i = 0; i < 5; i++) await tick();
        each?.();
        if (done?.()) return;
        clock.advance(STEP_MS);
      }
      if (done) assert.fail(`not done within ${ms} ms: ${JSON.stringify(service().updateStatus)}`);
    },
    stop: controllers.stop,
  };
}

const ready = (t: TaskRecord): boolean =>
  t.desiredState === 'running' && t.status.state === 'running' && t.status.readyAt !== undefined;

async function webOn(h: Harness, image: string, extra: object = {}): Promise<void> {
  const spec = serviceSpecSchema.parse({
    name: 'web',
    replicas: 6,
    task: {
      image,
      healthcheck: { test: ['CMD-SHELL', 'true'], intervalMs: 1000 },
      restart: { delayMs: 1000 },
    },
    ...extra,
  });
  h.call('service.create', { spec });
  await h.run(30_000, () => h.live().filter(ready).length === 6);
}

/** Slots (replica numbers) that ever held a task of the image, sampled at every step. */
function slotsOf(h: Harness, image: string): Set<number> {
  return new Set(
    h
      .live()
      .filter((t) => t.template.image === image)
      .map((t) => t.slot),
  );
}

test('parallelism 2, stop-first: at most 2 tasks are replaced at once; each waits for the monitor period', async () => {
  const h = harness();
  await webOn(h, 'web:1', { update: { parallelism: 2, monitorMs: 2000 } });
  const started = h.clock.now();
  h.call('service.update', { service: 'web', image: 'web:2' });
  let maxBusy = 0;
  await h.run(
    60_000,
    () => h.service().updateStatus?.state === 'completed',
    () => {
      // A slot is busy from its old task's stop until its new task has been watched long enough.
      const busy = h.live().filter((t) => t.template.image === 'web:1').length;
      maxBusy = Math.max(
        maxBusy,
        6 -
          busy -
          h
            .live()
            .filter(
              (t) =>
                ready(t) &&
                t.template.image === 'web:2' &&
                h.clock.now() - (t.status.readyAt ?? 0) >= 2000,
            ).length,
      );
    },
  );
  assert.ok(maxBusy <= 2, `at most 2 slots in flight, saw ${maxBusy}`);
  assert.equal(h.live().filter((t) => ready(t) && t.template.image === 'web:2').length, 6);
  // Three batches of two, each watched for 2 s.
  assert.ok(h.clock.now() - started >= 6000, `took ${h.clock.now() - started} ms`);
  const st = h.service().updateStatus;
  assert.equal(st?.message, 'update completed');
  assert.equal(h.service().previousSpec?.task.image, 'web:1');
  h.stop();
});

test('start-first keeps every slot served: an old task stops only once its replacement is ready', async () => {
  const h = harness();
  await webOn(h, 'web:1', { update: { parallelism: 2, monitorMs: 1000, order: 'start-first' } });
  h.call('service.update', { service: 'web', image: 'web:2' });
  let minReady = 6;
  await h.run(
    60_000,
    () => h.service().updateStatus?.state === 'completed',
    () => {
      const servedSlots = new Set(
        h
          .live()
          .filter(ready)
          .map((t) => t.slot),
      );
      minReady = Math.min(minReady, servedSlots.size);
    },
  );
  assert.equal(minReady, 6, 'every slot had a ready task at every step');
  const live = h.live();
  assert.equal(live.length, 6);
  assert.ok(live.every((t) => t.template.image === 'web:2' && ready(t)));
  h.stop();
});

test('a version whose health check fails is rolled back by itself, having reached no more than parallelism slots', async () => {
  const h = harness(new Set(['web:3']));
  await webOn(h, 'web:2', {
    update: { parallelism: 2, monitorMs: 2000, failureAction: 'rollback' },
  });
  h.call('service.update', { service: 'web', image: 'web:3' });
  const v3 = new Set<number>();
  await h.run(
    60_000,
    () => h.service().updateStatus?.state === 'rolled back',
    () => {
      for (const s of slotsOf(h, 'web:3')) v3.add(s);
    },
  );
  const s = h.service();
  assert.ok(v3.size <= 2, `at most 2 slots ever on web:3, saw ${[...v3].join(',')}`);
  assert.equal(s.spec.task.image, 'web:2');
  assert.equal(s.updateStatus?.kind, 'rollback');
  assert.match(
    s.updateStatus?.message ?? '',
    /^rolled back: update failed: task web\.\d failed: health check failed/,
  );
  await h.run(
    30_000,
    () => h.live().filter((t) => ready(t) && t.template.image === 'web:2').length === 6,
  );
  assert.equal(h.live().length, 6);
  h.stop();
});

test('failure action pause stops the update; a fixed spec resumes it', async () => {
  const h = harness(new Set(['web:3']));
  await webOn(h, 'web:2', { update: { parallelism: 1, monitorMs: 1000 } });
  h.call('service.update', { service: 'web', image: 'web:3' });
  await h.run(30_000, () => h.service().updateStatus?.state === 'paused');
  assert.match(
    h.service().updateStatus?.message ?? '',
    /^update paused: task web\.1 failed: health check failed/,
  );
  // Paused: the other five slots stay on web:2.
  await h.run(5_000);
  assert.equal(h.live().filter((t) => t.template.image === 'web:2').length, 5);
  h.call('service.update', { service: 'web', image: 'web:4' });
  await h.run(60_000, () => h.service().updateStatus?.state === 'completed');
  assert.ok(h.live().every((t) => t.template.image === 'web:4'));
  assert.equal(h.live().filter(ready).length, 6);
  h.stop();
});

test('canaries hold until promoted; then the rest follow', async () => {
  const h = harness();
  await webOn(h, 'web:1', { update: { parallelism: 0, monitorMs: 1000, canary: 2 } });
  h.call('service.update', { service: 'web', image: 'web:2' });
  await h.run(30_000, () => h.service().updateStatus?.state === 'canary');
  await h.run(5_000);
  assert.equal(h.live().filter((t) => t.template.image === 'web:2').length, 2);
  assert.match(h.service().updateStatus?.message ?? '', /fleet service promote web/);
  h.call('service.promote', { service: 'web' });
  await h.run(30_000, () => h.service().updateStatus?.state === 'completed');
  assert.ok(h.live().every((t) => t.template.image === 'web:2'));
  assert.throws(() => h.call('service.promote', { service: 'web' }), /no canaries waiting/);
  h.stop();
});

test('canaries promote themselves once healthy for the monitor period with auto-promote', async () => {
  const h = harness();
  await webOn(h, 'web:1', {
    update: { parallelism: 0, monitorMs: 1000, canaryPercent: 20, autoPromote: true },
  });
  h.call('service.update', { service: 'web', image: 'web:2' });
  let most = 0;
  let canaryPhase = true;
  await h.run(
    30_000,
    () => h.service().updateStatus?.state === 'completed',
    () => {
      if (h.service().updateStatus?.promoted) canaryPhase = false;
      if (canaryPhase) most = Math.max(most, slotsOf(h, 'web:2').size);
    },
  );
  assert.equal(most, 2, '20% of 6 rounds up to 2 canaries');
  assert.ok(h.live().every((t) => t.template.image === 'web:2'));
  h.stop();
});

test('a failed canary rolls the service back when the failure action is rollback', async () => {
  const h = harness(new Set(['web:2']));
  await webOn(h, 'web:1', {
    update: { monitorMs: 1000, canary: 1, failureAction: 'rollback' },
  });
  h.call('service.update', { service: 'web', image: 'web:2' });
  await h.run(30_000, () => h.service().updateStatus?.state === 'rolled back');
  await h.run(
    30_000,
    () => h.live().filter((t) => ready(t) && t.template.image === 'web:1').length === 6,
  );
  h.stop();
});

test('fleet service rollback returns to the previous spec; tasks already on it are left alone', async () => {
  const h = harness();
  await webOn(h, 'web:1', { update: { parallelism: 0, monitorMs: 500 } });
  h.call('service.update', { service: 'web', image: 'web:2' });
  await h.run(30_000, () => h.service().updateStatus?.state === 'completed');
  const v2 = new Set(h.live().map((t) => t.id));
  h.call('service.rollback', { service: 'web' });
  assert.equal(h.service().spec.task.image, 'web:1');
  assert.equal(h.service().specVersion, 1, 'the previous spec keeps its version');
  // Rollback settings are Swarm's defaults: one task at a time, each watched for 5 s.
  await h.run(90_000, () => h.service().updateStatus?.state === 'rolled back');
  assert.ok(h.live().every((t) => t.template.image === 'web:1' && !v2.has(t.id)));
  assert.match(h.service().updateStatus?.message ?? '', /rolled back: requested/);
  // The next update gets a version never used before.
  h.call('service.update', { service: 'web', image: 'web:3' });
  assert.equal(h.service().specVersion, 3);
  h.stop();
});

test('update settings change without replacing tasks; a scale does not resume a paused update', async () => {
  const h = harness(new Set(['web:3']));
  await webOn(h, 'web:1', { update: { monitorMs: 500 } });
  const ids = new Set(h.live().map((t) => t.id));
  h.call('service.update', { service: 'web', update: { parallelism: 3, order: 'start-first' } });
  await h.run(2_000);
  assert.deepEqual(new Set(h.live().map((t) => t.id)), ids);
  assert.equal(h.service().spec.update?.parallelism, 3);
  assert.equal(h.service().spec.update?.monitorMs, 500);
  h.call('service.update', { service: 'web', image: 'web:3' });
  await h.run(30_000, () => h.service().updateStatus?.state === 'paused');
  h.call('service.update', { service: 'web', replicas: 6 });
  assert.equal(h.service().updateStatus?.state, 'paused');
  h.stop();
});

test('rollback settings cannot themselves roll back or use canaries', () => {
  const h = harness();
  const spec = serviceSpecSchema.parse({ name: 'web', task: { image: 'x' } });
  h.call('service.create', { spec });
  assert.throws(
    () => h.call('service.update', { service: 'web', rollback: { failureAction: 'rollback' } }),
    /pause or continue/,
  );
  assert.throws(() => h.call('service.rollback', { service: 'web' }), /no previous spec/);
  h.stop();
});

test('canary counts: a number, or a percentage rounded up, never more than the tasks', () => {
  assert.equal(canaryCount({ ...DEFAULT_UPDATE, canary: 2 }, 6), 2);
  assert.equal(canaryCount({ ...DEFAULT_UPDATE, canaryPercent: 10 }, 6), 1);
  assert.equal(canaryCount({ ...DEFAULT_UPDATE, canary: 9 }, 6), 6);
  assert.equal(canaryCount(DEFAULT_UPDATE, 6), 0);
});

test('after an automatic rollback, a canary update still holds at its canaries', async () => {
  const h = harness(new Set(['web:3']));
  await webOn(h, 'web:1', {
    update: { parallelism: 2, monitorMs: 1000, order: 'start-first', failureAction: 'rollback' },
    rollback: { parallelism: 2, monitorMs: 500 },
  });
  h.call('service.update', { service: 'web', image: 'web:2' });
  await h.run(60_000, () => h.service().updateStatus?.state === 'completed');
  h.call('service.update', { service: 'web', image: 'web:3' });
  await h.run(60_000, () => h.service().updateStatus?.state === 'rolled back');
  await h.run(
    30_000,
    () => h.live().filter((t) => ready(t) && t.template.image === 'web:2').length === 6,
  );
  const stale = h.live().filter((t) => isTerminal(t.status.state));
  assert.deepEqual(stale, [], 'no ended task is still wanted running after the rollback');
  h.call('service.update', { service: 'web', image: 'web:1', update: { canary: 1 } });
  let most = 0;
  await h.run(
    30_000,
    () => h.service().updateStatus?.state === 'canary',
    () => (most = Math.max(most, slotsOf(h, 'web:1').size)),
  );
  await h.run(3_000, undefined, () => (most = Math.max(most, slotsOf(h, 'web:1').size)));
  assert.equal(most, 1);
  h.stop();
});
