// The small parsers of the Compose loader (shell words, Go durations, sizes) and inline refusals of values each mapper checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseComposeBytes, parseComposeDuration } from '../../manager/stack/compose/durations.js';
import { shellWords } from '../../manager/stack/compose/shell-words.js';
import { problemsOf, yaml } from '../helpers/compose.js';

test('a command string is split as a shell would, without expansion', () => {
  assert.deepEqual(shellWords('sh -c "echo $HOME && ls"'), ['sh', '-c', 'echo $HOME && ls']);
  assert.deepEqual(shellWords(`a 'b c' d\\ e "f\\"g" ''`), ['a', 'b c', 'd e', 'f"g', '']);
  assert.deepEqual(shellWords('  spaced   out  '), ['spaced', 'out']);
  assert.equal(shellWords('echo "open'), null);
  assert.equal(shellWords("echo 'open"), null);
});

test('durations are Go durations; sizes take k, m, g with or without b', () => {
  assert.equal(parseComposeDuration('1m30s'), 90_000);
  assert.equal(parseComposeDuration('1.5h'), 5_400_000);
  assert.equal(parseComposeDuration('500ms'), 500);
  assert.equal(parseComposeDuration('0'), 0);
  assert.equal(parseComposeDuration('10'), null);
  assert.equal(parseComposeDuration('1x'), null);
  assert.equal(parseComposeBytes('64M'), 64 * 1024 * 1024);
  assert.equal(parseComposeBytes('1gb'), 1024 ** 3);
  assert.equal(parseComposeBytes(4096), 4096);
  assert.equal(parseComposeBytes('lots'), null);
});

/** One service's extra lines → the problem expected (its line, column and a fragment). */
const INLINE: [string, string, string][] = [
  [
    'bad protocol',
    '    ports: ["80/sctp"]',
    '4:13: service "web": port "80/sctp": protocol "sctp" is not tcp or udp',
  ],
  [
    'uneven range',
    '    ports: ["8000-8002:80-81"]',
    '4:13: service "web": port "8000-8002:80-81": the published range',
  ],
  [
    'long port mode',
    '    ports: [{ target: 80, mode: bridge }]',
    '4:13: service "web": port {"target":80,"mode":"bridge"}: mode "bridge"',
  ],
  [
    'anonymous volume',
    '    volumes: ["/data"]',
    '4:15: service "web": volume "/data": an anonymous volume',
  ],
  [
    'volume option',
    '    volumes: ["./a:/a:z"]',
    '4:15: service "web": volume "./a:/a:z": the option "z" is not supported',
  ],
  [
    'tmpfs option',
    '    tmpfs: ["/run:mode=1777"]',
    '4:13: service "web": tmpfs "/run:mode=1777": the option "mode=1777"',
  ],
  [
    'undeclared config',
    '    configs: [conf]',
    '4:15: service "web": the config "conf" is not declared',
  ],
  [
    'bad restart',
    '    restart: sometimes',
    '4:5: service "web": restart "sometimes" is not one of',
  ],
  [
    'global replicas',
    '    deploy: { mode: global, replicas: 2 }',
    '4:29: service "web": deploy.replicas applies to replicated services only',
  ],
  [
    'dnsrr',
    '    deploy: { endpoint_mode: dnsrr }',
    '4:15: service "web": deploy.endpoint_mode "dnsrr" is not supported',
  ],
  [
    'spread',
    '    deploy: { placement: { preferences: [{ spread: engine.labels.az }] } }',
    '4:42: service "web": placement preference spread "engine.labels.az"',
  ],
  [
    'healthcheck list',
    '    healthcheck: { test: [curl, x] }',
    '4:20: service "web": healthcheck.test as a list starts with CMD',
  ],
  [
    'ulimit',
    '    ulimits: { nofile: { soft: 20, hard: 10 } }',
    '4:16: service "web": ulimits.nofile: a soft limit no higher than the hard one',
  ],
  ['self dependency', '    depends_on: [web]', '4:18: service "web": depends on itself'],
  [
    'small memory limit',
    '    deploy: { resources: { limits: { memory: 1M } } }',
    '2:3: service "web": task.limits.memoryBytes: a memory limit is at least 6M',
  ],
  [
    'bad hostname',
    '    hostname: "{{.Nope}}"',
    '4:5: service "web": hostname: unknown template field',
  ],
  ['unclosed quote', '    command: echo "x', '4:5: service "web": command has an unclosed quote'],
  [
    'ipam',
    'networks: { default: { ipam: { driver: x } } }',
    '4:24: network "default": "ipam" is not supported by fleet',
  ],
];

for (const [what, lines, want] of INLINE) {
  test(`refused with its place: ${what}`, () => {
    const text = `services:\n  web:\n    image: x\n${lines}\n`;
    const got = problemsOf(yaml(text));
    assert.ok(
      got.some((p) => p.startsWith(`compose.yml:${want}`)),
      `expected compose.yml:${want}\n got ${got.join('\n     ')}`,
    );
  });
}

test('a secret from an unset environment variable is refused', () => {
  const got = problemsOf(
    yaml(
      'services:\n  web:\n    image: x\n    secrets: [k]\nsecrets:\n  k: { environment: NOPE }\n',
    ),
  );
  assert.deepEqual(got, ['compose.yml:6:8: secret "k": the variable NOPE is not set']);
});
