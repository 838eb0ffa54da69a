// A new agent release's self-check, its checked start under a supervisor, and the supervisor's command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../shared/clock.js';
import { selfCheck } from '../../agent/ota/self-check.js';
import { startChecked, type OtaChild } from '../../agent/ota/ota-child.js';
import { withoutSupervise } from '../../agent/ota/supervise-cli.js';

function dir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(path.join(tmpdir(), 'fleet-ota-check-'));
  t.after(() => {
    chmodSync(d, 0o700);
    rmSync(d, { recursive: true, force: true });
  });
  return d;
}

const answers = async (): Promise<unknown> => ({ os: 'linux' });

test('a board with a writable data dir, no identity yet and a runtime that answers passes', async (t) => {
  const d = dir(t);
  const clock = new FakeClock();
  assert.equal(await selfCheck({ dataDir: d, runtimeInfo: answers, clock }), undefined);
  assert.deepEqual(readdirSync(d), [], 'the probe file is gone');
});

test('each failed check says what is wrong', async (t) => {
  const clock = new FakeClock();
  const d = dir(t);
  writeFileSync(path.join(d, 'identity.json'), '{"v":1}');
  assert.match(
    (await selfCheck({ dataDir: d, runtimeInfo: answers, clock })) ?? '',
    /cannot read the identity file/,
  );
  const e = dir(t);
  const refuses = async (): Promise<unknown> => {
    throw new Error('connect ENOENT /var/run/docker.sock');
  };
  assert.equal(
    await selfCheck({ dataDir: e, runtimeInfo: refuses, clock }),
    'the task runtime does not answer: connect ENOENT /var/run/docker.sock',
  );
  if (process.getuid?.() !== 0) {
    const ro = dir(t);
    chmodSync(ro, 0o500);
    assert.match(
      (await selfCheck({ dataDir: ro, runtimeInfo: answers, clock })) ?? '',
      /is not writable/,
    );
  }
});

test('a runtime that never answers fails the check after its time', async (t) => {
  const clock = new FakeClock();
  let asked!: () => void;
  const askedRuntime = new Promise<void>((r) => (asked = r));
  const pending = selfCheck({
    dataDir: dir(t),
    runtimeInfo: () => {
      asked();
      return new Promise(() => undefined);
    },
    clock,
    runtimeMs: 20_000,
  });
  // Once the disk checks are done and the runtime is asked, its time runs out.
  await askedRuntime;
  await clock.advanceAsync(20_000);
  assert.equal(await pending, 'the task runtime did not answer within 20000 ms');
});

function fakeChild(): OtaChild & { failures: string[] } {
  const failures: string[] = [];
  return {
    failures,
    release: '1.2.0',
    trial: true,
    reportHealthy: () => undefined,
    reportSelfCheckFailed: async (reason) => void failures.push(reason),
    requestSwitch: async () => ({ ok: false }),
    state: () => ({ v: 1, current: 'factory' }),
  };
}

test('under a supervisor, a failed self-check or start is reported with its reason', async () => {
  const child = fakeChild();
  await assert.rejects(
    startChecked(
      child,
      async () => 'disk gone',
      async () => 'agent',
    ),
    /self-check failed: disk gone/,
  );
  await assert.rejects(
    startChecked(
      child,
      async () => undefined,
      async () => {
        throw new Error('the identity file is damaged');
      },
    ),
    /damaged/,
  );
  assert.deepEqual(child.failures, ['disk gone', 'the identity file is damaged']);
  assert.equal(
    await startChecked(
      child,
      async () => undefined,
      async () => 'agent',
    ),
    'agent',
  );
});

test('without a supervisor the agent starts without a self-check', async () => {
  let checked = false;
  const check = async (): Promise<string | undefined> => {
    checked = true;
    return 'never asked';
  };
  assert.equal(await startChecked(undefined, check, async () => 'agent'), 'agent');
  assert.equal(checked, false);
});

test('the agent the supervisor starts gets the same flags without --supervise', () => {
  assert.deepEqual(
    withoutSupervise(['agent', 'start', '--supervise', '--data-dir', 'd', '--supervise=true']),
    ['agent', 'start', '--data-dir', 'd'],
  );
  assert.deepEqual(withoutSupervise(['start', '--upgrade-monitor', '5s']), [
    'start',
    '--upgrade-monitor',
    '5s',
  ]);
});
