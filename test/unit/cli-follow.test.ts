// Following a service after a CLI command: polls on an injected clock, prints task lines, ends or fails as the service does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { Method, Results, ServiceDetail, TaskView } from '../../shared/api.js';
import { FakeClock } from '../../shared/clock.js';
import { FleetError } from '../../shared/errors.js';
import type { RpcClient } from '../../manager/cli/rpc-client.js';
import { followUpdate, waitForConvergence } from '../../manager/cli/service/follow.js';
import { T0, serviceDetail, taskView, withUpdate } from '../helpers/cli-views.js';

test('following a service prints each change and ends once it converged on two polls in a row', async () => {
  const polls = [[taskView(1, 'assigned')], [taskView(1, 'running')], [taskView(1, 'running')]];
  const { client, calls } = scriptedClient(
    polls.map((tasks) => ({ detail: serviceDetail(1), tasks })),
  );
  const out = new Output();
  const clock = new FakeClock(T0);
  const outcome = await drive(
    waitForConvergence(client, 'web', { timeoutMs: 60_000, clock, out: out.stream }),
    clock,
  );
  assert.deepEqual(outcome, { ok: true });
  assert.equal(calls(), 3, 'one poll to see it running, one more to see it stay so');
  assert.deepEqual(out.lines(), [
    'overall progress: 0 out of 1 tasks running',
    'web.1: assigned',
    'overall progress: 1 out of 1 tasks running',
    'web.1: running',
    'verify: Service web converged',
  ]);
});

test('a service that never converges fails when the injected clock passes the timeout', async () => {
  const failed = taskView(1, 'failed', { error: 'task exited with code 3' });
  const { client } = scriptedClient([{ detail: serviceDetail(1), tasks: [failed] }]);
  const clock = new FakeClock(T0);
  const outcome = await drive(
    waitForConvergence(client, 'web', { timeoutMs: 1_000, clock, out: new Output().stream }),
    clock,
  );
  assert.equal(outcome.ok, false);
  const e = outcome.ok ? undefined : outcome.error;
  assert.ok(e instanceof FleetError && e.code === 'unavailable', String(e));
  assert.match(
    e.message,
    /^service web did not converge within 1s: 0 of 1 tasks running; web\.1: /,
  );
  assert.equal(clock.now() - T0 >= 1_000, true, 'it waited the whole timeout on the given clock');
});

test('following an update returns with the message of canaries waiting for promotion', async () => {
  const canary = withUpdate(serviceDetail(1), 'canary', {
    message: 'canaries of web wait for promotion',
  });
  const { client } = scriptedClient([{ detail: canary, tasks: [taskView(1, 'running')] }]);
  const out = new Output();
  const clock = new FakeClock(T0);
  const outcome = await drive(
    followUpdate(client, 'web', { timeoutMs: 60_000, clock, out: out.stream, kind: 'update' }),
    clock,
  );
  assert.deepEqual(outcome, { ok: true });
  assert.equal(out.lines().at(-1), 'canaries of web wait for promotion');
});

test('an update that rolled back fails the update command but ends a rollback', async () => {
  const rolledBack = withUpdate(serviceDetail(1), 'rolled back', {
    message: 'rolled back: 1 task failed',
  });
  const poll = { detail: rolledBack, tasks: [taskView(1, 'running')] };
  const clock = new FakeClock(T0);
  const update = await drive(
    followUpdate(scriptedClient([poll]).client, 'web', {
      timeoutMs: 60_000,
      clock,
      out: new Output().stream,
      kind: 'update',
    }),
    clock,
  );
  assert.equal(update.ok, false);
  const e = update.ok ? undefined : update.error;
  assert.ok(e instanceof FleetError && e.code === 'conflict', String(e));
  assert.equal(e.message, 'service web rolled back: 1 task failed');
  const out = new Output();
  const rollback = await drive(
    followUpdate(scriptedClient([poll]).client, 'web', {
      timeoutMs: 60_000,
      clock,
      out: out.stream,
      kind: 'rollback',
    }),
    clock,
  );
  assert.deepEqual(rollback, { ok: true });
  assert.equal(out.lines().at(-1), 'verify: Service web converged');
});

type Outcome = { ok: true } | { ok: false; error: unknown };

/** Moves the fake clock on, one poll period at a time, until `p` settles. */
async function drive(p: Promise<void>, clock: FakeClock): Promise<Outcome> {
  let outcome: Outcome | undefined;
  const settled = p.then(
    () => (outcome = { ok: true }),
    (error: unknown) => (outcome = { ok: false, error }),
  );
  for (let i = 0; i < 1_000 && outcome === undefined; i++) await clock.advanceAsync(100);
  await settled;
  return outcome ?? { ok: false, error: new Error('never settled') };
}

interface Poll {
  detail: ServiceDetail;
  tasks: TaskView[];
}

/** A client whose n-th poll answers polls[n]; the last answer repeats. */
function scriptedClient(polls: readonly Poll[]): { client: RpcClient; calls: () => number } {
  let inspects = 0;
  const current = (n: number): Poll => {
    const poll = polls[Math.min(n, polls.length - 1)];
    if (!poll) throw new Error('no polls scripted');
    return poll;
  };
  const answer = (method: Method): unknown => {
    if (method === 'service.inspect') return current(inspects++).detail;
    if (method === 'service.ps') return current(inspects - 1).tasks;
    throw new Error(`unexpected call ${method}`);
  };
  const client: RpcClient = {
    host: '127.0.0.1:4883',
    knownHosts: ['127.0.0.1:4883'],
    call: <M extends Method>(method: M) => Promise.resolve(answer(method) as Results[M]),
    close: () => Promise.resolve(),
  };
  return { client, calls: () => inspects };
}

/** Collects what the follower writes, as lines. */
class Output {
  readonly stream = new PassThrough();
  private text = '';
  constructor() {
    this.stream.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}
