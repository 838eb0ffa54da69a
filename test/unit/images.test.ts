// Images that move: reference parsing, digests from RepoDigests, the re-pull decision, credentials, reported digests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planPull, type PullFacts } from '../../agent/runtime/docker/pull-decision.js';
import { applyReport } from '../../manager/dispatcher/reports.js';
import {
  digestFromRepoDigests,
  parseImageReference,
  pinnedReference,
} from '../../shared/image-ref.js';
import { decode, statusSchema, taskReportSchema } from '../../shared/protocol.js';
import { credentialsFor } from '../../shared/registry-auth.js';
import { taskTemplateSchema, type TaskRecord } from '../../shared/spec.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

test('references split into registry, repository, tag and digest as Docker reads them', () => {
  assert.deepEqual(parseImageReference('nginx'), {
    registry: 'docker.io',
    repository: 'nginx',
    tag: 'latest',
    digest: null,
  });
  assert.deepEqual(parseImageReference('127.0.0.1:5131/app:v2'), {
    registry: '127.0.0.1:5131',
    repository: '127.0.0.1:5131/app',
    tag: 'v2',
    digest: null,
  });
  assert.deepEqual(parseImageReference(`localhost/team/app@${D1}`), {
    registry: 'localhost',
    repository: 'localhost/team/app',
    tag: null,
    digest: D1,
  });
  assert.equal(parseImageReference('docker.io/library/redis:7').repository, 'redis');
  assert.equal(parseImageReference('ghcr.io/o/app:1@' + D2).tag, '1');
  assert.equal(pinnedReference('127.0.0.1:5131/app:latest', D1), `127.0.0.1:5131/app@${D1}`);
});

test("the digest is the one of the image's own repository among RepoDigests", () => {
  const rd = [`other.io/app@${D2}`, `127.0.0.1:5131/app@${D1}`];
  assert.equal(digestFromRepoDigests('127.0.0.1:5131/app:latest', rd), D1);
  assert.equal(digestFromRepoDigests('busybox:1', [`busybox@${D2}`]), D2);
  assert.equal(digestFromRepoDigests('docker.io/library/busybox', [`busybox@${D2}`]), D2);
  assert.equal(digestFromRepoDigests('fleet-test/busybox:latest', []), null);
  assert.equal(digestFromRepoDigests('app:1', ['app@sha256:short']), null);
});

const facts = (over: Partial<PullFacts>): PullFacts => ({
  image: '127.0.0.1:5131/app:latest',
  pinned: null,
  local: { digest: D1 },
  pinnedLocal: false,
  pulledForVersion: false,
  ...over,
});

test('a tag from a registry is pulled again for a new spec version, with the local image as fallback', () => {
  assert.deepEqual(planPull(facts({})), {
    pull: '127.0.0.1:5131/app:latest',
    run: '127.0.0.1:5131/app:latest',
    localFallback: true,
  });
});

test('a restart of the same spec version uses the local image and needs no network', () => {
  assert.equal(planPull(facts({ pulledForVersion: true })).pull, null);
});

test('an image built or imported on the board (no repo digest) is never pulled', () => {
  assert.equal(planPull(facts({ local: { digest: null } })).pull, null);
});

test('a missing image is pulled, with nothing to fall back on', () => {
  assert.deepEqual(planPull(facts({ local: null, pulledForVersion: true })), {
    pull: '127.0.0.1:5131/app:latest',
    run: '127.0.0.1:5131/app:latest',
    localFallback: false,
  });
});

test('a digest pinned for the version is run by digest, pulled only when absent', () => {
  const ref = `127.0.0.1:5131/app@${D2}`;
  assert.deepEqual(planPull(facts({ pinned: D2, pinnedLocal: true })), {
    pull: null,
    run: ref,
    localFallback: false,
  });
  assert.deepEqual(planPull(facts({ pinned: D2 })), { pull: ref, run: ref, localFallback: true });
});

test('a reference by digest never moves: pulled only when absent', () => {
  const image = `127.0.0.1:5131/app@${D1}`;
  assert.equal(planPull(facts({ image })).pull, null);
  assert.equal(planPull(facts({ image, local: null })).pull, image);
});

test('credentials come from the auths entry of the image registry, base64 user:pass', () => {
  const config = {
    auths: {
      '127.0.0.1:5131': { auth: Buffer.from('ann:s3:cret').toString('base64') },
      'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
    },
    credsStore: 'desktop',
  };
  assert.deepEqual(credentialsFor('127.0.0.1:5131/app:latest', config), {
    username: 'ann',
    password: 's3:cret',
    serveraddress: '127.0.0.1:5131',
  });
  assert.equal(credentialsFor('nginx', config)?.username, 'hub');
  assert.equal(credentialsFor('other.io/app', config), null);
  assert.equal(credentialsFor('nginx', { auths: 'nope' }), null);
});

test('a status report carries an optional digest, validated', () => {
  const base = { taskId: 't1', state: 'running', at: 1 };
  assert.equal(taskReportSchema.parse({ ...base, digest: D1 }).digest, D1);
  assert.equal(taskReportSchema.parse(base).digest, undefined);
  const bad = decode(
    statusSchema,
    JSON.stringify({ v: 1, ts: 1, assignmentVersion: 0, tasks: [{ ...base, digest: 'latest' }] }),
  );
  assert.equal(bad.ok, false);
});

test('the manager records the reported digest and keeps it when a later report has none', () => {
  const task: TaskRecord = {
    id: 't1',
    serviceId: 's1',
    serviceName: 'web',
    slot: 1,
    nodeId: 'n1',
    desiredState: 'running',
    specVersion: 1,
    template: taskTemplateSchema.parse({ image: 'app:latest' }),
    status: {
      state: 'starting',
      message: '',
      error: null,
      exitCode: null,
      hostPorts: [],
      runtimeId: null,
      restarts: 0,
      at: 0,
    },
    notBefore: 0,
    restartHistory: [],
    createdAt: 0,
    updatedAt: 0,
  };
  const report = taskReportSchema.parse({ taskId: 't1', state: 'running', at: 5, digest: D1 });
  const after = applyReport(task, report, 5);
  assert.equal(after?.status.digest, D1);
  const again = taskReportSchema.parse({ taskId: 't1', state: 'running', at: 6 });
  assert.equal(after && applyReport(after, again, 6), null, 'nothing changed');
  const moved = after && applyReport(after, { ...report, digest: D2 }, 7);
  assert.equal(moved?.status.digest, D2);
});
