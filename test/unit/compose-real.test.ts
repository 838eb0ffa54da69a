// Compose files nobody here wrote (Docker's voting app, a Django + Celery + RabbitMQ app): each loads, or is refused only for what fleet names as unsupported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { COMPOSE_FIXTURES, fixture, load, problemsOf } from '../helpers/compose.js';

/** The reasons a real file may be refused for: a key fleet names as unsupported, or a build without an image. */
const NAMED_REFUSALS = [
  /: "[a-z_.\[\]0-9]+" is not supported by fleet \(/,
  /has build: but no image: fleet does not build images/,
  /a host address is not supported/,
];

const files = readdirSync(path.join(COMPOSE_FIXTURES, 'real')).filter((f) => f.endsWith('.yml'));

test('the real-world fixtures name their source and license', () => {
  assert.ok(files.length >= 3);
  for (const f of files) {
    const first = fixture(`real/${f}`).text.split('\n')[0] ?? '';
    assert.match(first, /^# From github\.com\/[\w.-]+\/[\w.-]+ .*License/, f);
  }
});

for (const f of files) {
  test(`real/${f} loads or is refused only for keys named as unsupported`, () => {
    for (const ignoreUnsupported of [false, true]) {
      let problems: string[] = [];
      try {
        load(fixture(`real/${f}`), { ignoreUnsupported });
      } catch {
        problems = problemsOf(fixture(`real/${f}`), { ignoreUnsupported });
      }
      for (const p of problems)
        assert.ok(
          NAMED_REFUSALS.some((re) => re.test(p)),
          `an unexpected refusal: ${p}`,
        );
    }
  });
}

test("the voting app's docker-stack.yml deploys as five services on two networks", () => {
  const { plan, warnings } = load(fixture('real/voting-app-stack.yml'), { stackName: 'vote' });
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    plan.services.map((s) => [s.name, s.replicas, s.task.ports.map((p) => p.published)]),
    [
      ['vote_redis', 1, []],
      ['vote_db', 1, []],
      ['vote_vote', 2, [8080]],
      ['vote_result', 1, [8081]],
      ['vote_worker', 2, []],
    ],
  );
  assert.deepEqual(
    plan.networks.map((n) => n.name),
    ['vote_frontend', 'vote_backend'],
  );
  const db = plan.services.find((s) => s.name === 'vote_db');
  assert.deepEqual(db?.task.mounts, [
    { type: 'volume', source: 'vote_db-data', target: '/var/lib/postgresql/data' },
  ]);
});

test('the Django + Celery + RabbitMQ file loads with --ignore-unsupported once its one build-only service has an image', () => {
  const src = fixture('real/django-celery-rabbitmq.yml');
  const text = src.text.replace('    build: ./nginx\n', '    image: fleet-test/busybox:latest\n');
  const { plan, warnings } = load({ ...src, text }, { ignoreUnsupported: true });
  assert.equal(plan.services.length, 11);
  const worker = plan.services.find((s) => s.name === 'myapp_worker_heavy');
  assert.deepEqual(worker?.task.command, [
    'sh',
    '-c',
    // A folded scalar keeps the newline before a more-indented line (YAML 1.2, 8.1.3).
    'wait-for backend:8000 &&\n       celery -A MLplatform.celery worker -Q heavy -l info -E',
  ]);
  assert.deepEqual(
    worker?.dependsOn?.map((d) => d.service),
    ['myapp_backend', 'myapp_rabbit', 'myapp_db'],
  );
  assert.ok(warnings.some((w) => /"container_name" is not supported by fleet .*; ignored/.test(w)));
});
