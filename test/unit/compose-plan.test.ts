// The plans Compose files resolve to: the reference application exactly, and each honoured key's mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, load, memoryFiles, yaml } from '../helpers/compose.js';

const NS = { 'com.docker.stack.namespace': 'myapp' };

/** A service spec as the plan holds it, with every default filled in. */
function service(name: string, task: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    name: `myapp_${name}`,
    mode: 'replicated',
    replicas: 1,
    task: {
      image: 'fleet-test/busybox:latest',
      command: [],
      env: {},
      ports: [],
      restart: { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
      resources: { cpu: 0, memoryBytes: 0 },
      stopGracePeriodMs: 10000,
      secrets: [],
      configs: [],
      containerLabels: NS,
      networks: [{ name: 'myapp_webnet', aliases: [name] }],
      ...task,
    },
    constraints: [],
    maxReplicasPerNode: 0,
    labels: NS,
    ...extra,
  };
}

test('the reference app (rabbit, web x3 on 8000, worker x2, on webnet) becomes exactly this plan', () => {
  const { plan, warnings } = load(fixture('good/reference.yml'));
  assert.deepEqual(warnings, []);
  const { compose, ...rest } = plan;
  assert.match(compose, /webnet/);
  assert.deepEqual(rest, {
    name: 'myapp',
    services: [
      service('rabbit', {
        command: ['httpd', '-f', '-p', '5672'],
        expose: [{ port: 5672, protocol: 'tcp' }],
      }),
      service(
        'web',
        {
          command: ['httpd', '-f', '-p', '80'],
          ports: [{ target: 80, published: 8000, protocol: 'tcp', mode: 'ingress' }],
        },
        {
          replicas: 3,
          dependsOn: [
            { service: 'myapp_rabbit', condition: 'service_started' },
            { service: 'myapp_worker', condition: 'service_started' },
          ],
        },
      ),
      service('worker', { command: ['sleep', '3600'] }, { replicas: 2 }),
    ],
    networks: [
      { name: 'myapp_webnet', external: false, internal: false, attachable: false, labels: {} },
    ],
    secrets: [],
    configs: [],
  });
});

const FULL_FILES = {
  '/proj/api.env': '# comment\nFROM_FILE=1\nMODE=staging\nexport QUOTED="a b"\n',
  '/proj/db_password.txt': 's3cret',
  '/proj/app.conf': 'listen 80\n',
};

function loadFull() {
  return load(fixture('good/full.yml'), {
    env: { REPLICAS: '4', FROM_SHELL: 'yes', API_KEY: 'k-123' },
    readFile: memoryFiles(FULL_FILES),
  });
}

test('a service using most keys maps each onto the spec', () => {
  const { plan } = loadFull();
  const api = plan.services.find((s) => s.name === 'myapp_api');
  assert.ok(api);
  const t = api.task;
  assert.equal(t.image, 'fleet-test/busybox:latest');
  assert.deepEqual(t.entrypoint, ['/bin/sh', '-c']);
  assert.deepEqual(t.command, ["echo 'hello world' && sleep 60"]);
  assert.deepEqual(t.env, { FROM_FILE: '1', MODE: 'production', QUOTED: 'a b', FROM_SHELL: 'yes' });
  assert.deepEqual(t.containerLabels, { team: 'edge', ...NS });
  assert.deepEqual(t.ports, [
    { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' },
    { target: 53, published: 53, protocol: 'udp', mode: 'ingress' },
    { target: 7000, published: 9000, protocol: 'tcp', mode: 'ingress' },
    { target: 7001, published: 9001, protocol: 'tcp', mode: 'ingress' },
    { target: 443, published: 8443, protocol: 'tcp', mode: 'host' },
  ]);
  assert.deepEqual(t.expose, [
    { port: 3000, protocol: 'tcp' },
    { port: 4000, protocol: 'udp' },
    { port: 4001, protocol: 'udp' },
  ]);
  assert.equal(api.replicas, 4);
  assert.deepEqual(api.labels, { tier: 'front', ...NS });
  assert.deepEqual(api.constraints, ['node.labels.zone == a', 'node.role != manager']);
  assert.deepEqual(api.placementPrefs, [{ spread: 'node.labels.rack' }]);
  assert.equal(api.maxReplicasPerNode, 2);
  assert.deepEqual(t.limits, { cpu: 0.5, memoryBytes: 64 * 1024 * 1024 });
  assert.deepEqual(t.resources, { cpu: 0.25, memoryBytes: 32 * 1024 * 1024 });
  assert.deepEqual(t.restart, {
    condition: 'on-failure',
    delayMs: 2000,
    maxAttempts: 3,
    windowMs: 60000,
  });
  assert.deepEqual(api.update, {
    parallelism: 2,
    delayMs: 10000,
    monitorMs: 30000,
    maxFailureRatio: 0.1,
    order: 'start-first',
    failureAction: 'rollback',
  });
  assert.deepEqual(api.rollback, { parallelism: 1, failureAction: 'pause' });
  assert.deepEqual(t.healthcheck, {
    test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'],
    intervalMs: 90000,
    timeoutMs: 5000,
    startPeriodMs: 500,
    retries: 4,
  });
  assert.equal(t.stopGracePeriodMs, 20000);
  assert.equal(t.stopSignal, 'SIGINT');
  assert.equal(t.init, true);
  assert.equal(t.user, '1000:1000');
  assert.equal(t.workdir, '/srv');
  assert.equal(t.hostname, '{{.Service.Name}}-{{.Task.Slot}}');
  assert.equal(t.readOnly, true);
  assert.equal(t.tty, true);
  assert.deepEqual(t.dns, ['10.0.0.2']);
  assert.deepEqual(t.sysctls, { 'net.core.somaxconn': '1024' });
  assert.deepEqual(t.ulimits, [
    { name: 'nofile', soft: 1024, hard: 2048 },
    { name: 'nproc', soft: 512, hard: 512 },
  ]);
  assert.deepEqual(t.capAdd, ['NET_ADMIN']);
  assert.deepEqual(t.capDrop, ['ALL']);
  assert.deepEqual(t.groupAdd, ['dialout', '20']);
  assert.deepEqual(t.devices, [
    { host: '/dev/i2c-1', container: '/dev/i2c-1', permissions: 'rwm' },
    { host: '/dev/null', container: '/dev/fake0', permissions: 'r' },
  ]);
  assert.equal(t.privileged, false);
  assert.deepEqual(api.dependsOn, [{ service: 'myapp_db', condition: 'service_healthy' }]);
});

test('secrets, configs, volumes and networks resolve to stack names, external names and files', () => {
  const { plan } = loadFull();
  const api = plan.services.find((s) => s.name === 'myapp_api');
  assert.ok(api);
  const t = api.task;
  assert.deepEqual(t.secrets, [
    { name: 'myapp_db_password', target: '/run/secrets/db_password' },
    { name: 'myapp_api_key', target: '/run/secrets/key.txt' },
    { name: 'outside', target: '/run/secrets/outside' },
  ]);
  assert.deepEqual(t.configs, [
    { name: 'myapp_app_conf', target: '/app_conf' },
    { name: 'myapp_motd', target: '/etc/motd' },
  ]);
  assert.deepEqual(t.mounts, [
    { type: 'volume', source: 'myapp_data', target: '/data' },
    { type: 'bind', source: '/proj/static', target: '/srv/static', readOnly: true },
    { type: 'bind', source: '/var/log', target: '/host-log' },
    { type: 'tmpfs', target: '/cache', tmpfsSizeBytes: 16 * 1024 * 1024 },
    { type: 'volume', source: 'team-shared', target: '/shared', readOnly: true },
    { type: 'tmpfs', target: '/run', tmpfsSizeBytes: 8 * 1024 * 1024 },
  ]);
  assert.deepEqual(t.networks, [
    { name: 'myapp_front', aliases: ['api', 'api-v1'] },
    { name: 'myapp_back', aliases: ['api'] },
  ]);
  assert.deepEqual(plan.networks, [
    {
      name: 'myapp_front',
      external: false,
      internal: false,
      attachable: true,
      labels: { purpose: 'public' },
    },
    { name: 'myapp_back', external: false, internal: true, attachable: false, labels: {} },
    { name: 'myapp_default', external: false, internal: false, attachable: false, labels: {} },
  ]);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(plan.secrets, [
    { name: 'myapp_db_password', external: false, data: b64('s3cret'), labels: {} },
    { name: 'myapp_api_key', external: false, data: b64('k-123'), labels: {} },
    { name: 'outside', external: true, labels: {} },
  ]);
  assert.deepEqual(plan.configs, [
    { name: 'myapp_app_conf', external: false, data: b64('listen 80\n'), labels: {} },
    { name: 'myapp_motd', external: false, data: b64('welcome'), labels: {} },
  ]);
});

test('restart: and deploy.mode map onto the restart policy and the service mode', () => {
  const { plan } = loadFull();
  const db = plan.services.find((s) => s.name === 'myapp_db');
  const migrate = plan.services.find((s) => s.name === 'myapp_migrate');
  assert.equal(db?.mode, 'global');
  assert.equal(db?.task.restart.condition, 'any');
  assert.deepEqual(db?.task.networks, [{ name: 'myapp_default', aliases: ['db'] }]);
  assert.equal(migrate?.mode, 'replicated-job');
  assert.deepEqual(migrate?.task.restart, {
    condition: 'on-failure',
    maxAttempts: 5,
    delayMs: 5000,
    windowMs: 0,
  });
});

test('restart: no, healthcheck disable and the depends_on map form', () => {
  const { plan, warnings } = load(
    yaml(`services:
  a:
    image: x
    restart: "no"
    healthcheck: { disable: true }
    depends_on:
      b: { condition: service_completed_successfully, required: false }
  b:
    image: x
    deploy: { mode: replicated-job }
`),
  );
  const a = plan.services[0];
  assert.equal(a?.task.restart.condition, 'none');
  assert.deepEqual(a?.task.healthcheck, { test: ['NONE'] });
  assert.deepEqual(a?.dependsOn, [
    { service: 'myapp_b', condition: 'service_completed_successfully' },
  ]);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0] ?? '',
    /compose\.yml:7:55: service "a": "depends_on\.b\.required" has no effect/,
  );
});

test('a network declared external joins by its own name and is not created', () => {
  const { plan } = load(
    yaml(`services:
  a: { image: x, networks: [shared] }
networks:
  shared: { external: true, name: corp-net }
`),
  );
  assert.deepEqual(plan.services[0]?.task.networks, [{ name: 'corp-net', aliases: ['a'] }]);
  assert.deepEqual(plan.networks, [
    { name: 'corp-net', external: true, internal: false, attachable: false, labels: {} },
  ]);
});
