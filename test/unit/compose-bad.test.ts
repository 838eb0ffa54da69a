// Broken Compose files: each is refused with the file, line and reason, before anything is deployed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, problemsOf } from '../helpers/compose.js';

/** Fixture under bad/ → the problems expected, each as "line:col: message fragment". */
const CASES: Record<string, string[]> = {
  'bad-yaml.yml': ['5:1: invalid YAML: Flow sequence in block collection'],
  'wrong-type.yml': ['5:7: services.web.deploy.replicas must be integer'],
  'unknown-key.yml': ['4:5: unknown key "enviroment" in services.web'],
  'missing-image.yml': [
    '5:5: service "api": "build" is not supported by fleet',
    '2:3: service "web" has no image:',
    '4:3: service "api" has build: but no image: fleet does not build images; build and push it, then name it in image:',
  ],
  'cycle.yml': ['4:5: depends_on makes a cycle: a → b → a'],
  'unknown-dependency.yml': ['5:9: service "web": depends_on names "db", which is not a service'],
  'bad-port.yml': ['5:9: service "web": port "80000:80": ports are 1 to 65535'],
  'host-ip-port.yml': [
    '5:9: service "web": port "127.0.0.1:8000:80": a host address is not supported',
  ],
  'duplicate-published.yml': [
    '8:5: service "api": port 8000/tcp is already published by service "web"',
  ],
  'required-variable.yml': [
    '5:7: required variable DB_PASSWORD is not set: set the database password',
  ],
  'missing-secret-file.yml': [
    '8:5: secret "db_password": file ./secrets/db_password.txt: no such file',
  ],
  'undeclared-network.yml': ['5:9: service "web": the network "backend" is not declared'],
  'undeclared-volume.yml': [
    '5:9: service "db": volume "dbdata:/var/lib/db": the volume "dbdata" is not declared',
  ],
  'undeclared-secret.yml': ['5:9: service "web": the secret "api_key" is not declared'],
  'bad-duration.yml': ['4:5: services.web.stop_grace_period is not a duration'],
  'bad-size.yml': ['7:11: service "web": memory "lots" is not a size'],
  'unsupported-key.yml': [
    '4:5: service "web": "container_name" is not supported by fleet',
    '5:5: service "web": "logging" is not supported by fleet',
  ],
  'engine-constraint.yml': [
    '8:13: service "web": placement constraint "engine.labels.operatingsystem == ubuntu" is not supported',
  ],
  'network-driver.yml': ['7:5: network "mesh": driver "macvlan" is not supported'],
  'not-a-mapping.yml': ['1:1: the top level of a Compose file is a mapping'],
  'duplicate-key.yml': ['4:5: invalid YAML: Map keys must be unique'],
  'bad-device.yml': ['5:9: service "sensor": devices: "dev/i2c-1" (expected HOST-PATH'],
  'rollback-failure-action.yml': ['6:9: service "web": rollback_config.failure_action "rollback"'],
};

for (const [file, expected] of Object.entries(CASES)) {
  test(`bad/${file} is refused with its place and reason`, () => {
    const got = problemsOf(fixture(`bad/${file}`));
    assert.equal(got.length, expected.length, got.join('\n'));
    expected.forEach((want, i) => {
      assert.ok(got[i]?.startsWith(`bad/${file}:${want}`), `expected ${want}\n got ${got[i]}`);
    });
  });
}

test('every problem of a file is reported, not only the first', () => {
  const got = problemsOf({
    path: 'many.yml',
    text: [
      'services:',
      '  a:',
      '    image: x',
      '    ports: ["99999:1"]',
      '    depends_on: [nowhere]',
      '  b:',
      '    command: sleep 1',
      '',
    ].join('\n'),
  });
  assert.equal(got.length, 3, got.join('\n'));
  assert.match(got.join('\n'), /many\.yml:4:13: .*ports are 1 to 65535/);
  assert.match(got.join('\n'), /many\.yml:5:18: .*depends_on names "nowhere"/);
  assert.match(got.join('\n'), /many\.yml:6:3: service "b" has no image:/);
});

test('the error message lists every problem as file:line:col: message', () => {
  const got = problemsOf(fixture('bad/cycle.yml'));
  assert.deepEqual(got, ['bad/cycle.yml:4:5: depends_on makes a cycle: a → b → a']);
});
