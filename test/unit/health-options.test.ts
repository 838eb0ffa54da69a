// The --health-* flags, --no-healthcheck, and how `service update` merges a health check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthcheckOf } from '../../manager/cli/flags/health.js';
import { buildSpec } from '../../manager/cli/service/spec.js';
import { UsageError } from '../../manager/cli/usage.js';
import { mergeHealthcheck, taskTemplateSchema } from '../../shared/spec.js';

test('health flags build a shell check with its timings; none given means the image decides', () => {
  assert.equal(healthcheckOf({}), undefined);
  assert.deepEqual(
    healthcheckOf({
      healthCmd: 'wget -q -O- localhost/health',
      healthInterval: 2000,
      healthTimeout: 500,
      healthRetries: 2,
      healthStartPeriod: 10_000,
    }),
    {
      test: ['CMD-SHELL', 'wget -q -O- localhost/health'],
      intervalMs: 2000,
      timeoutMs: 500,
      retries: 2,
      startPeriodMs: 10_000,
    },
  );
  // Timings alone tune the image's own HEALTHCHECK.
  assert.deepEqual(healthcheckOf({ healthInterval: 1000 }), { intervalMs: 1000 });
  assert.deepEqual(healthcheckOf({ healthcheck: false }), { test: ['NONE'] });
});

test('--no-healthcheck with a --health-* flag, or an empty command, is a usage error', () => {
  assert.throws(
    () => healthcheckOf({ healthcheck: false, healthCmd: 'true' }),
    (e: unknown) => e instanceof UsageError && /conflicts/.test(e.message),
  );
  assert.throws(() => healthcheckOf({ healthcheck: false, healthRetries: 1 }), /conflicts/);
  assert.throws(() => healthcheckOf({ healthCmd: '  ' }), /needs a command/);
});

test('the spec carries the health check and the drain timeout', () => {
  const spec = buildSpec({
    name: 'web',
    image: 'img',
    health: { test: ['CMD-SHELL', 'true'], retries: 1 },
    drainTimeout: 30_000,
  });
  assert.deepEqual(spec.task.healthcheck, { test: ['CMD-SHELL', 'true'], retries: 1 });
  assert.equal(spec.task.drainTimeoutMs, 30_000);
  assert.equal(buildSpec({ name: 'web', image: 'img' }).task.healthcheck, undefined);
  assert.throws(() =>
    taskTemplateSchema.parse({ image: 'x', healthcheck: { test: ['RUN', 'x'] } }),
  );
});

test('an update changes the fields it names; a new command keeps timings; NONE drops all', () => {
  const old = { test: ['CMD-SHELL', 'a'], intervalMs: 1000, retries: 3 };
  assert.deepEqual(mergeHealthcheck(old, undefined), old);
  assert.deepEqual(mergeHealthcheck(old, { retries: 1 }), { ...old, retries: 1 });
  assert.deepEqual(mergeHealthcheck(old, { test: ['CMD-SHELL', 'b'] }), {
    ...old,
    test: ['CMD-SHELL', 'b'],
  });
  assert.deepEqual(mergeHealthcheck(old, { test: ['NONE'] }), { test: ['NONE'] });
  assert.deepEqual(mergeHealthcheck({ test: ['NONE'] }, { intervalMs: 5 }), { intervalMs: 5 });
  assert.deepEqual(mergeHealthcheck(undefined, { retries: 2 }), { retries: 2 });
});
