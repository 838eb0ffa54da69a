// Loading Compose files: interpolation, .env, merging several files, standard input, unsupported keys and the resolved file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expand, TemplateError } from '../../manager/stack/compose/interpolate.js';
import { load, memoryFiles, problemsOf, yaml } from '../helpers/compose.js';

const vars: Record<string, string> = { SET: 'value', EMPTY: '' };
const lookup = (n: string) => vars[n];

test('interpolation expands every form of ${VAR}', () => {
  const unset: string[] = [];
  const x = (t: string) => expand(t, lookup, (n) => unset.push(n));
  assert.equal(x('$SET/${SET}'), 'value/value');
  assert.equal(x('${UNSET:-d} ${EMPTY:-d} ${SET:-d}'), 'd d value');
  assert.equal(x('${UNSET-d} ${EMPTY-d}'), 'd ');
  assert.equal(x('${SET:+r} ${EMPTY:+r} ${UNSET:+r}'), 'r  ');
  assert.equal(x('${SET+r} ${EMPTY+r} ${UNSET+r}'), 'r r ');
  assert.equal(x('${UNSET:-${SET}}'), 'value');
  assert.equal(x('cost: $$5 and $${SET}'), 'cost: $5 and ${SET}');
  assert.equal(x('${EMPTY?e}'), '');
  assert.deepEqual(unset, []);
  assert.equal(x('a${NOPE}b$NOPE2'), 'ab');
  assert.deepEqual(unset, ['NOPE', 'NOPE2']);
});

test('a required variable without a value is an error with its message', () => {
  assert.throws(() => expand('${UNSET:?say why}', lookup, () => {}), {
    message: 'required variable UNSET is not set: say why',
  });
  assert.throws(() => expand('${EMPTY:?}', lookup, () => {}), {
    message: 'required variable EMPTY is empty',
  });
  assert.throws(() => expand('${UNSET?}', lookup, () => {}), TemplateError);
  assert.throws(() => expand('price $5', lookup, () => {}), /write \$\$ for a literal \$/);
  assert.throws(() => expand('${SET', lookup, () => {}), /no closing/);
});

const APP = `services:
  web:
    image: fleet-test/busybox:\${TAG}
    environment:
      GREETING: \${GREETING:-hello}
      MISSING: \${NOT_SET}
    deploy:
      replicas: \${REPLICAS}
`;

test('values come from the environment first, then .env beside the first file', () => {
  const readFile = memoryFiles({
    '/proj/.env': 'TAG=from-dotenv\nREPLICAS=2\nGREETING="hi there"\n',
  });
  const { plan, warnings } = load(yaml(APP), { env: { TAG: 'from-env' }, readFile });
  const web = plan.services[0];
  assert.equal(web?.task.image, 'fleet-test/busybox:from-env');
  assert.equal(web?.replicas, 2);
  assert.deepEqual(web?.task.env, { GREETING: 'hi there', MISSING: '' });
  assert.deepEqual(warnings, [
    'compose.yml:6:7: the variable NOT_SET is not set; it stands for an empty string',
  ]);
});

test('keys are never interpolated', () => {
  const { plan } = load(
    yaml('services:\n  web:\n    image: x\n    environment:\n      $$KEY: v\n'),
  );
  assert.deepEqual(plan.services[0]?.task.env, { $$KEY: 'v' });
});

test('a later file overrides the first: mappings merge by key, ports and volumes by target, commands are replaced', () => {
  const base = yaml(
    `services:
  web:
    image: app:1
    command: ["serve", "--old"]
    environment: [A=1, B=2]
    labels: { team: a }
    ports: ["8000:80", "9000:90"]
    volumes: ["data:/data", "./conf:/etc/app"]
    deploy: { replicas: 2, resources: { limits: { memory: 64M } } }
volumes:
  data:
`,
    'compose.yml',
  );
  const override = yaml(
    `services:
  web:
    image: app:2
    command: serve --new
    environment: { B: "3", C: "4" }
    labels: [owner=b]
    ports: ["8080:80"]
    volumes: ["data:/etc/app:ro"]
    deploy: { replicas: 5 }
`,
    'compose.prod.yml',
  );
  const { plan } = load([base, override]);
  const web = plan.services[0];
  assert.equal(web?.task.image, 'app:2');
  assert.deepEqual(web?.task.command, ['serve', '--new']);
  assert.deepEqual(web?.task.env, { A: '1', B: '3', C: '4' });
  assert.deepEqual(web?.task.containerLabels, {
    team: 'a',
    owner: 'b',
    'com.docker.stack.namespace': 'myapp',
  });
  assert.deepEqual(
    web?.task.ports.map((p) => `${p.published}:${p.target}`),
    ['8000:80', '9000:90', '8080:80'],
  );
  assert.deepEqual(web?.task.mounts, [
    { type: 'volume', source: 'myapp_data', target: '/data' },
    { type: 'volume', source: 'myapp_data', target: '/etc/app', readOnly: true },
  ]);
  assert.equal(web?.replicas, 5);
  assert.deepEqual(web?.task.limits, { memoryBytes: 64 * 1024 * 1024 });
});

test('problems in a later file name that file and its line', () => {
  const base = yaml('services:\n  web:\n    image: x\n');
  const override = yaml('services:\n  web:\n    depends_on: [db]\n', 'override.yml');
  assert.deepEqual(problemsOf([base, override]), [
    'override.yml:3:18: service "web": depends_on names "db", which is not a service of the file',
  ]);
});

test('a file read from standard input is named stdin in problems', () => {
  const problems = problemsOf({ path: '-', text: 'services:\n  web:\n    image: [x]\n' });
  assert.deepEqual(problems, ['stdin:3:5: services.web.image must be string']);
  const { plan } = load({ path: '-', text: 'services:\n  web:\n    image: x\n' });
  assert.equal(plan.services[0]?.name, 'myapp_web');
});

test('with ignoreUnsupported an unsupported key is one warning and the rest deploys', () => {
  const file = yaml(`services:
  web:
    image: x
    container_name: web
    logging: { driver: syslog }
  api:
    image: x
    container_name: api
`);
  assert.equal(problemsOf(file).length, 3);
  const { plan, warnings } = load(file, { ignoreUnsupported: true });
  assert.equal(plan.services.length, 2);
  assert.deepEqual(warnings, [
    'compose.yml:4:5: service "web": "container_name" is not supported by fleet (services have many tasks; names are STACK_SERVICE.SLOT); ignored',
    'compose.yml:5:5: service "web": "logging" is not supported by fleet (tasks log to the engine default; fleet streams logs itself); ignored',
    'compose.yml:8:5: service "api": "container_name" is not supported by fleet (services have many tasks; names are STACK_SERVICE.SLOT); ignored',
  ]);
});

test('x- extension keys, anchors and merge keys are accepted silently; version and name are ignored', () => {
  const { plan, warnings } = load(
    yaml(`version: "3.9"
name: ignored
x-common: &common
  image: fleet-test/busybox:latest
  environment: { SHARED: "1" }
services:
  a:
    <<: *common
    x-note: anything
  b:
    <<: *common
    image: other:1
`),
  );
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    plan.services.map((s) => [s.name, s.task.image, s.task.env]),
    [
      ['myapp_a', 'fleet-test/busybox:latest', { SHARED: '1' }],
      ['myapp_b', 'other:1', { SHARED: '1' }],
    ],
  );
});

test('the resolved file is the interpolated merge, and the plan keeps it', () => {
  const r = load([yaml(APP), yaml('services:\n  web:\n    deploy: { replicas: 7 }\n', 'b.yml')], {
    env: { TAG: 't1', NOT_SET: 'now', REPLICAS: '1' },
  });
  assert.match(r.resolved, /image: fleet-test\/busybox:t1/);
  assert.match(r.resolved, /replicas: 7/);
  assert.doesNotMatch(r.resolved, /\$\{/);
  assert.equal(r.plan.compose, r.resolved);
});

test('env_file entries are read beside the first file; environment: wins; a bare KEY comes from the environment', () => {
  const readFile = memoryFiles({ '/proj/conf/app.env': 'A=file\nB=file\nFROM_ENV\n' });
  const { plan } = load(
    yaml(
      'services:\n  w:\n    image: x\n    env_file: conf/app.env\n    environment: [B=inline]\n',
    ),
    { readFile, env: { FROM_ENV: 'shell' } },
  );
  assert.deepEqual(plan.services[0]?.task.env, { A: 'file', B: 'inline', FROM_ENV: 'shell' });
  const missing = problemsOf(yaml('services:\n  w:\n    image: x\n    env_file: nope.env\n'));
  assert.deepEqual(missing, ['compose.yml:4:5: env_file nope.env: no such file']);
});

test('a bad stack name is refused', () => {
  assert.match(
    problemsOf(yaml('services:\n  w:\n    image: x\n'), { stackName: 'My App' })[0] ?? '',
    /stack name "My App"/,
  );
});
