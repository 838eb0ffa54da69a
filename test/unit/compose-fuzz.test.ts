// Property tests: random YAML-ish text and random Compose-shaped trees never make the loader throw anything but a ComposeError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ComposeError } from '../../manager/stack/compose/index.js';
import { fixture, load } from '../helpers/compose.js';

const RUNS = { numRuns: 300 };

/** Loads the text; true when it loaded, false when it was refused with a ComposeError. */
function loads(text: string, ignoreUnsupported = false): boolean {
  try {
    load({ path: 'fuzz.yml', text }, { ignoreUnsupported, env: { SET: '1' } });
    return true;
  } catch (e) {
    if (e instanceof ComposeError) {
      assert.ok(e.problems.length > 0);
      for (const p of e.problems) assert.equal(typeof p.message, 'string');
      return false;
    }
    throw e;
  }
}

/** Pieces real Compose files are made of, glued at random. */
const piece = fc.constantFrom(
  'services:',
  '  web:',
  '  db:',
  '    image: x',
  '    image: ${SET}',
  '    image:',
  '    ports: ["8000:80"]',
  '    ports: [80000]',
  '    ports:',
  '      - target: 80',
  '        published: ${P:-8080}',
  '    deploy: { replicas: 2, mode: global }',
  '    depends_on: [web, db, nope]',
  '    depends_on: { web: { condition: service_healthy } }',
  '    volumes: ["data:/data", "./x:/y:ro", "/z"]',
  '    secrets: [s]',
  '    networks: [n, default]',
  '    environment: [A=1, B]',
  '    command: "echo \'unclosed',
  '    healthcheck: { test: [CMD, true], interval: 1x }',
  '    <<: *anchor',
  'x-a: &anchor { image: y }',
  'volumes: { data: }',
  'networks: { n: { driver: overlay } }',
  'secrets: { s: { file: ./s.txt } }',
  '- item',
  '  - nested',
  '{',
  '}',
  ']',
  ': :',
  '${REQ:?needed}',
  '$',
  '\t',
  '',
);

test('random lines of Compose never throw anything but a ComposeError', () => {
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), fc.boolean(), (lines, ignore) => {
      loads(lines.join('\n'), ignore);
    }),
    RUNS,
  );
});

test('random text never throws anything but a ComposeError', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (text) => {
      loads(text);
    }),
    RUNS,
  );
});

/** Random values where a service's keys go: every key with values of the wrong shape too. */
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 12 }),
    fc.integer({ min: -5, max: 70000 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

const serviceKey = fc.constantFrom(
  'image',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'ports',
  'expose',
  'deploy',
  'healthcheck',
  'volumes',
  'tmpfs',
  'secrets',
  'configs',
  'networks',
  'depends_on',
  'devices',
  'ulimits',
  'sysctls',
  'cap_add',
  'restart',
  'labels',
  'user',
  'hostname',
  'dns',
  'build',
);

test('services with random values under real keys never throw anything but a ComposeError', () => {
  fc.assert(
    fc.property(fc.dictionary(serviceKey, anyValue, { maxKeys: 6 }), (svc) => {
      loads(stringify({ services: { web: { image: 'x', ...svc } } }));
    }),
    RUNS,
  );
});

test('a valid file still loads after every line is deleted in turn, or is refused cleanly', () => {
  const lines = fixture('good/full.yml').text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    loads([...lines.slice(0, i), ...lines.slice(i + 1)].join('\n'), true);
  }
});
