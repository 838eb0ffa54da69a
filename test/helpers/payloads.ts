// Generators of hostile payloads for property-based tests: random, truncated, mutated, huge and deeply nested.
import fc from 'fast-check';

const now = Date.now();
/** Valid messages, so truncation and mutation stay close to what the decoders really accept. */
export const VALID: unknown[] = [
  { v: 1, seq: 1, ts: now },
  { v: 1, ts: now, assignmentVersion: 3, tasks: [{ taskId: 't1', state: 'running', at: now }] },
  {
    v: 1,
    token: 'FLEET-1-x',
    name: 'n',
    signPub: 'a',
    boxPub: 'b',
    address: '127.0.0.1',
    platform: { os: 'linux', arch: 'arm64' },
    labels: { a: 'b' },
    sig: 's',
  },
  {
    v: 1,
    id: 'r1',
    method: 'service.create',
    params: { spec: { name: 'w', task: { image: 'i' } } },
  },
  { v: 1, id: 'r1', ok: false, error: { code: 'x', message: 'y' } },
];

export const deep = fc
  .record({
    depth: fc.integer({ min: 100, max: 100_000 }),
    open: fc.constantFrom('[', '{"a":', '{"v":', '{"params":'),
    close: fc.boolean(),
  })
  .map(({ depth, open, close }) => {
    const closer = open === '[' ? ']' : '}';
    return open.repeat(depth) + '1' + (close ? closer.repeat(depth) : '');
  });

export const huge = fc
  .record({
    size: fc.integer({ min: 200_000, max: 1_200_000 }),
    fill: fc.constantFrom('x', ' ', '[', '"', '\\', '\u00e9', '\u0000'),
    base: fc.constantFrom(...VALID),
  })
  .map(({ size, fill, base }) => JSON.stringify({ ...(base as object), pad: fill.repeat(size) }));

export const truncated = fc
  .record({ base: fc.constantFrom(...VALID), cut: fc.nat() })
  .map(({ base, cut }) => {
    const text = JSON.stringify(base);
    return text.slice(0, cut % text.length);
  });

/** A valid message with one field replaced by anything JSON can carry. */
export const mutated = fc
  .record({
    base: fc.constantFrom(...VALID),
    key: fc.string({ maxLength: 12 }),
    value: fc.jsonValue(),
  })
  .map(({ base, key, value }) => {
    const obj = { ...(base as Record<string, unknown>) };
    const keys = Object.keys(obj);
    obj[keys[key.length % keys.length] ?? key] = value;
    return JSON.stringify(obj);
  });

export const payload: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  fc.string({ unit: 'binary', maxLength: 2048 }),
  fc.json({ maxDepth: 6 }),
  truncated,
  mutated,
  deep,
  huge,
);
