// Property-based tests: random, truncated, huge and nested input at every edge decoder and CLI spec parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { z } from 'zod';
import * as protocol from '../../shared/protocol.js';
import { params } from '../../shared/api.js';
import { parseBytes, parseConstraint, parseDuration } from '../../shared/spec.js';
import { parseHosts } from '../../manager/cli/connection.js';
import { parseKeyValues } from '../../manager/cli/flags/env-labels.js';
import { constraintsFlag } from '../../manager/cli/flags/placement.js';
import { parsePublish } from '../../manager/cli/flags/publish.js';
import {
  bytesFlag,
  countFlag,
  durationFlag,
  nonNegativeFlag,
} from '../../manager/cli/flags/values.js';
import { parseScale } from '../../manager/cli/service/scale.js';
import { buildSpec, type CreateFlags } from '../../manager/cli/service/spec.js';
import { UsageError } from '../../manager/cli/usage.js';
import { parseHostPort } from '../../manager/cli/manager-start.js';
import { deep, payload } from '../helpers/payloads.js';

/** Any one call may take this long; more means a regex or a parser went super-linear. */
const CALL_BUDGET_MS = 500;
const RUNS = { numRuns: 150 };

/** Runs fn, failing the property if it takes too long or throws anything but `allowed`. */
function within<T>(what: string, fn: () => T, allowed?: new (...a: never[]) => Error): T | Error {
  const t0 = performance.now();
  let out: T | Error;
  try {
    out = fn();
  } catch (e) {
    if (!allowed || !(e instanceof allowed)) throw new Error(`${what} threw ${String(e)}`);
    out = e;
  }
  const ms = performance.now() - t0;
  if (ms > CALL_BUDGET_MS) throw new Error(`${what} took ${Math.round(ms)} ms`);
  return out;
}

// ---- decoders at the manager's edges

const schemas: [string, z.ZodType][] = [];
for (const [name, value] of Object.entries(protocol))
  if (value instanceof z.ZodType) schemas.push([name, value]);

test('every protocol schema: decode never throws, never hangs, and gives a short reason', () => {
  assert.ok(schemas.length >= 7, `found ${schemas.length} schemas`);
  fc.assert(
    fc.property(payload, fc.constantFrom(...schemas), (p, [name, schema]) => {
      const d = within(`decode(${name})`, () => protocol.decode(schema, p));
      if (d instanceof Error) throw d;
      if (!d.ok) assert.ok(d.reason.length > 0 && d.reason.length < 600, d.reason);
    }),
    { numRuns: 400 },
  );
});

const methods = Object.keys(params) as (keyof typeof params)[];

test('every RPC method: parameter validation never throws on any JSON', () => {
  const value: fc.Arbitrary<unknown> = fc.oneof(
    fc.jsonValue({ maxDepth: 6 }),
    fc.anything({ maxDepth: 4 }),
    deep.map((text) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text;
      }
    }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...methods), value, (method, v) => {
      within(`params.${method}`, () => params[method].safeParse(v));
    }),
    RUNS,
  );
});

// ---- CLI spec parsers: a value or a UsageError, nothing else

const text: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 256 }),
  fc.stringMatching(/^[0-9a-z:=,./ ]{0,40}$/),
  fc
    .record({
      head: fc.string({ maxLength: 20 }),
      fill: fc.constantFrom(' ', '1', ':', '=', ',', '.', 'a'),
      n: fc.integer({ min: 1_000, max: 200_000 }),
      tail: fc.string({ maxLength: 4 }),
    })
    .map(({ head, fill, n, tail }) => head + fill.repeat(n) + tail),
  fc.constantFrom(
    'node.id==' + ' '.repeat(50_000) + 'x',
    'node.labels.a== a' + ' \t'.repeat(30_000) + '!',
  ),
);

test('parsePublish, parseHosts, parseScale, parseHostPort: a value or a usage error', () => {
  fc.assert(
    fc.property(text, (t) => {
      within('parsePublish', () => parsePublish(t), UsageError);
      within('parseHosts', () => parseHosts(t), UsageError);
      within('parseScale', () => parseScale(t), UsageError);
      within('parseHostPort', () => parseHostPort(t, 'listen'), UsageError);
    }),
    RUNS,
  );
});

test('durations, sizes, counts and constraints: a value or a usage error', () => {
  fc.assert(
    fc.property(text, (t) => {
      const d = within('parseDuration', () => parseDuration(t));
      assert.ok(d === null || typeof d === 'number');
      const b = within('parseBytes', () => parseBytes(t));
      assert.ok(b === null || typeof b === 'number');
      const c = within('parseConstraint', () => parseConstraint(t));
      assert.ok(c === null || typeof c === 'object');
      within('durationFlag', () => durationFlag('timeout', t), UsageError);
      within('bytesFlag', () => bytesFlag('reserve-memory', t), UsageError);
      within('countFlag', () => countFlag('replicas', t), UsageError);
      within('nonNegativeFlag', () => nonNegativeFlag('reserve-cpu', t), UsageError);
      within('constraintsFlag', () => constraintsFlag('constraint', [t]), UsageError);
    }),
    RUNS,
  );
});

test('parseKeyValues: a record or a usage error', () => {
  fc.assert(
    fc.property(fc.array(text, { maxLength: 8 }), fc.boolean(), (items, required) => {
      within('parseKeyValues', () => parseKeyValues('env', items, required), UsageError);
    }),
    RUNS,
  );
});

const num = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 53, 1e308),
);
const strings = fc.dictionary(text, text, { maxKeys: 5 });

const createFlags: fc.Arbitrary<CreateFlags> = fc.record(
  {
    name: text,
    image: text,
    command: fc.array(text, { maxLength: 5 }),
    mode: fc.constantFrom('replicated' as const, 'global' as const),
    replicas: num,
    env: strings,
    publish: fc.array(
      fc.record(
        {
          target: num,
          published: num,
          protocol: fc.constantFrom('tcp' as const, 'udp' as const),
          mode: fc.constantFrom('ingress' as const, 'host' as const),
        },
        { requiredKeys: ['target'] },
      ),
      { maxLength: 3 },
    ),
    constraint: fc.array(text, { maxLength: 3 }),
    reserveCpu: num,
    reserveMemory: num,
    maxReplicasPerNode: num,
    restartCondition: fc.constantFrom('none' as const, 'on-failure' as const, 'any' as const),
    restartDelay: num,
    restartMaxAttempts: num,
    restartWindow: num,
    stopGracePeriod: num,
    label: strings,
  },
  { requiredKeys: ['name', 'image'] },
);

test('buildSpec: a valid spec or a usage error naming a flag', () => {
  fc.assert(
    fc.property(createFlags, (flags) => {
      const out = within('buildSpec', () => buildSpec(flags), UsageError);
      if (out instanceof UsageError) assert.match(out.message, /^(Invalid value for |--replicas )/);
    }),
    { numRuns: 300 },
  );
});
