// Output people already read: Docker's columns, --filter, --quiet, --format templates and --no-trunc on every ls/ps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigView, ManagerView, NodeView, ServiceView } from '../../shared/api.js';
import { compileTemplate, execute, headerOf } from '../../manager/cli/format/template.js';
import { renderNodePretty } from '../../manager/cli/format/node-pretty.js';
import { captureCalls } from '../helpers/cli-stub.js';
import { T0, iso, taskView } from '../helpers/cli-views.js';

const node = (name: string, over: Partial<NodeView> = {}): NodeView => ({
  id: `${name}-0123456789abcdef`,
  name,
  role: 'worker',
  status: 'ready',
  statusMessage: '',
  availability: 'active',
  address: '127.0.0.2',
  arch: 'arm64',
  os: 'linux',
  labels: {},
  runtime: 'docker',
  agentVersion: '0.1.0',
  protocolVersion: 1,
  nodeVersion: '22.1.0',
  upgrade: null,
  engineVersion: '24.0.7',
  allowDevices: false,
  resources: { cpus: 4, memoryBytes: 4 * 1024 ** 3 },
  tasks: 2,
  createdAt: iso(T0),
  updatedAt: iso(T0),
  ...over,
});

const NODES = [
  node('pi-2', { labels: { zone: 'garage' }, profile: 'metered', detection: '~31 min (metered)' }),
  node('pi-1', {
    role: 'manager',
    manager: { address: '127.0.0.2:4883', leader: true, reachable: true, raft: 'voter' },
  }),
];

const service = (name: string, over: Partial<ServiceView> = {}): ServiceView => ({
  id: `${name}-svc-0123456789`,
  name,
  mode: 'replicated',
  replicas: { running: 2, desired: 3 },
  image: 'nginx:alpine',
  ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }],
  labels: {},
  ...over,
});

const run = (argv: string[], answers: Record<string, unknown>) =>
  captureCalls(argv, answers).then((r) => {
    assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  });

test('templates read fields, call json/upper/lower/index, pipe, and turn \\t into a tab', () => {
  const row = { Name: 'web', Replicas: '2/3', Labels: { zone: 'a' }, Mode: 'Replicated' };
  const fields = Object.keys(row);
  const render = (t: string) => execute(compileTemplate(t, fields), row);
  assert.equal(render('{{.Name}} {{.Replicas}}'), 'web 2/3');
  assert.equal(render('{{json .Labels}}'), '{"zone":"a"}');
  assert.equal(render('{{upper .Name}}\\t{{.Mode | lower}}'), 'WEB\treplicated');
  assert.equal(render('{{index .Labels "zone"}}|{{.Labels.zone}}'), 'a|a');
  assert.equal(render('{{json .}}'), JSON.stringify(row));
  assert.equal(headerOf('DesiredState'), 'DESIRED STATE');
  assert.equal(headerOf('ID'), 'ID');
});

test('a template with an unknown field or function is refused, naming what is wrong', () => {
  assert.throws(() => compileTemplate('{{.Nmae}}', ['Name']), /no field \.Nmae; fields: Name/);
  assert.throws(() => compileTemplate('{{shout .Name}}', ['Name']), /unknown function "shout"/);
  assert.throws(() => compileTemplate('{{.Name', ['Name']), /not closed/);
  assert.throws(() => compileTemplate('{{json}}', ['Name']), /json takes 1 argument/);
});

test("node ls prints Docker's columns first, then fleet's (the down detection last)", async () => {
  const out = await run(['node', 'ls'], { 'node.ls': NODES });
  assert.equal(
    out,
    [
      'ID             HOSTNAME   STATUS   AVAILABILITY   MANAGER STATUS   ENGINE VERSION   ROLE      ADDRESS     ARCH    TASKS   VERSION   DETECTION',
      'pi-1-0123456   pi-1       Ready    Active         Leader           24.0.7           manager   127.0.0.2   arm64   2       0.1.0',
      'pi-2-0123456   pi-2       Ready    Active                          24.0.7           worker    127.0.0.2   arm64   2       0.1.0     ~31 min (metered)',
      '',
    ].join('\n'),
  );
});

test('node ls --filter, --quiet, --no-trunc and a template', async () => {
  const answers = { 'node.ls': NODES };
  assert.equal(await run(['node', 'ls', '-q'], answers), 'pi-1-0123456\npi-2-0123456\n');
  assert.equal(
    await run(['node', 'ls', '-q', '--no-trunc', '-f', 'role=manager'], answers),
    'pi-1-0123456789abcdef\n',
  );
  assert.equal(
    await run(['node', 'ls', '-q', '--filter', 'label=zone=garage'], answers),
    'pi-2-0123456\n',
  );
  assert.equal(await run(['node', 'ls', '-q', '-f', 'label=zone=attic'], answers), '');
  assert.equal(
    await run(['node', 'ls', '--format', '{{.Hostname}}: {{.Status}} {{.EngineVersion}}'], answers),
    'pi-1: Ready 24.0.7\npi-2: Ready 24.0.7\n',
  );
  const json: unknown = JSON.parse(
    await run(['node', 'ls', '--format', 'json', '-f', 'name=pi-2'], answers),
  );
  assert.deepEqual(json, [NODES[0]]);
});

test('a bad filter or template is one usage line and exit 2, before any request', async () => {
  const r = await captureCalls(['node', 'ls', '--filter', 'colour=red'], { 'node.ls': NODES });
  assert.equal(r.exitCode, 2);
  assert.match(
    r.stderr,
    /^Invalid value for --filter: "colour=red" \(expected KEY=VALUE with KEY one of id, name, label, node.label, role, membership\)\n/,
  );
  assert.deepEqual(r.calls, []);
  const t = await captureCalls(['service', 'ls', '--format', '{{.Nope}}'], {});
  assert.equal(t.exitCode, 2);
  assert.match(t.stderr, /^Invalid value for --format: "\{\{\.Nope\}\}" \(no field \.Nope/);
});

test("service ls: Docker's columns, table templates with headers, filters by name, mode and label", async () => {
  const answers = {
    'service.ls': [
      service('web', { labels: { tier: 'front' } }),
      service('api', { mode: 'global', ports: [] }),
    ],
  };
  assert.equal(
    await run(['service', 'ls'], answers),
    [
      'ID             NAME   MODE         REPLICAS   IMAGE          PORTS            UPDATE',
      'api-svc-0123   api    global       2/3        nginx:alpine',
      'web-svc-0123   web    replicated   2/3        nginx:alpine   *:8080->80/tcp',
      '',
    ].join('\n'),
  );
  assert.equal(
    await run(['service', 'ls', '--format', 'table {{.ID}}\\t{{.Name}}\\t{{.Replicas}}'], answers),
    'ID             NAME   REPLICAS\napi-svc-0123   api    2/3\nweb-svc-0123   web    2/3\n',
  );
  assert.equal(
    await run(['service', 'ls', '--format', '{{.Name}}', '-f', 'mode=global'], answers),
    'api\n',
  );
  assert.equal(await run(['service', 'ls', '-q', '-f', 'label=tier'], answers), 'web-svc-0123\n');
  assert.equal(
    await run(['service', 'ls', '-q', '-f', 'name=a', '-f', 'name=w'], answers).then(
      (s) => s.split('\n').length,
    ),
    3,
  );
});

test("service ps takes several services and prints Docker's columns with PORTS", async () => {
  const web = [
    taskView(1, 'running', {
      hostPorts: [{ target: 80, protocol: 'tcp', hostIp: '127.0.0.2', hostPort: 30001 }],
    }),
  ];
  const api = [
    taskView(1, 'rejected', {
      id: 'api1old',
      name: 'api.1',
      service: 'api',
      desiredState: 'shutdown',
      error: 'image not found',
    }),
  ];
  const r = await captureCalls(
    [
      'service',
      'ps',
      'web',
      'api',
      '--format',
      'table {{.Name}}\\t{{.DesiredState}}\\t{{.Error}}\\t{{.Ports}}',
    ],
    {
      'service.ps': web,
    },
  );
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(
    r.calls.map((c) => c.params),
    [{ service: 'web' }, { service: 'api' }],
  );
  const both = await captureCalls(['service', 'ps', 'web'], { 'service.ps': [...web, ...api] });
  const [header, first] = both.stdout.split('\n');
  assert.match(
    header ?? '',
    /^ID {10}NAME {4}IMAGE {3}NODE {3}DESIRED STATE {3}CURRENT STATE +ERROR {13}PORTS$/,
  );
  assert.match(
    first ?? '',
    /^api1old\s+api\.1\s+nginx\s+pi-1\s+Shutdown\s+Rejected .+ ago\s+image not found$/,
  );
  assert.match(
    both.stdout,
    /web\.1\s+nginx\s+pi-1\s+Running\s+Running .+ago\s+127\.0\.0\.2:30001->80\/tcp\n$/,
  );
  const running = await run(['service', 'ps', 'web', '-q', '-f', 'desired-state=running'], {
    'service.ps': [...web, ...api],
  });
  assert.equal(running, 't1running\n');
});

test('node ps asks for the tasks of the nodes named, or of every node', async () => {
  const some = await captureCalls(['node', 'ps', 'pi-1', 'pi-2', '-q'], {
    'node.ps': [taskView(1, 'running')],
  });
  assert.deepEqual(some.calls, [{ method: 'node.ps', params: { nodes: ['pi-1', 'pi-2'] } }]);
  assert.equal(some.stdout, 't1running\n');
  const all = await captureCalls(['node', 'ps', '--format', '{{.Name}} on {{.Node}}'], {
    'node.ps': [taskView(2, 'running')],
  });
  assert.deepEqual(all.calls[0]?.params, { nodes: [] });
  assert.equal(all.stdout, 'web.2 on pi-1\n');
});

test('secret ls and manager ls take the same list options', async () => {
  const secrets: ConfigView[] = [
    {
      id: 'sec1-0123456789abc',
      name: 'db-pass',
      size: 8,
      labels: { env: 'prod' },
      usedBy: ['api'],
      createdAt: iso(T0),
    },
    {
      id: 'sec2-0123456789abc',
      name: 'tls-key',
      size: 16,
      labels: {},
      usedBy: [],
      createdAt: iso(T0),
    },
  ];
  assert.equal(
    await run(['secret', 'ls', '-q', '-f', 'label=env=prod'], { 'secret.ls': secrets }),
    'sec1-0123456\n',
  );
  assert.equal(
    await run(['config', 'ls', '--format', '{{.Name}}:{{.Size}}'], { 'config.ls': secrets }),
    'db-pass:8 B\ntls-key:16 B\n',
  );
  const managers: ManagerView[] = [
    {
      id: 'm1',
      name: 'pi-1',
      role: 'manager',
      address: '127.0.0.2:4883',
      leader: true,
      reachable: true,
      raft: 'voter',
      appliedIndex: 42,
    },
  ];
  assert.equal(
    await run(['manager', 'ls', '--format', '{{.Name}} {{.Status}} {{.AppliedIndex}}'], {
      'manager.ls': managers,
    }),
    'pi-1 Leader 42\n',
  );
});

test('node inspect --pretty reads like docker node inspect --pretty, with the versions', async () => {
  const text = renderNodePretty(NODES[1] ?? node('x'));
  assert.match(text, /^ID: +pi-1-0123456789abcdef\nHostname: +pi-1\n/);
  assert.match(
    text,
    /\nManager Status:\n Address: +127\.0\.0\.2:4883\n Raft Status: +Reachable \(voter\)\n Leader: +Yes\n/,
  );
  assert.match(text, /\nEngine Version: +24\.0\.7\nAgent Version: +0\.1\.0\nAgent Protocol: +1\n/);
  const viaCli = await run(['node', 'inspect', 'pi-2', '--pretty'], { 'node.inspect': NODES[0] });
  assert.match(viaCli, /\nLabels:\n - zone=garage\n$/);
  const tpl = await run(
    ['node', 'inspect', 'pi-2', '--format', '{{.engineVersion}} {{.labels.zone}}'],
    { 'node.inspect': NODES[0] },
  );
  assert.equal(tpl, '24.0.7 garage\n');
});
