// --registry-fallback: where a task's image comes from, the pull that stands in for the fleet's copy, and the flag's way into the spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { ClusterImageProvider } from '../../agent/images/agent-images.js';
import {
  CLUSTER_NOTE,
  fallbackNote,
  imageSourceOf,
} from '../../agent/runtime/docker/image-source.js';
import { DockerImages } from '../../agent/runtime/docker/images.js';
import { ImageUnavailableError } from '../../agent/runtime/types.js';
import { applyOptionsChange } from '../../manager/api/options-update.js';
import { taskListing } from '../../manager/cli/format/service-listing.js';
import { clusterImageFor } from '../../manager/dispatcher/task-image.js';
import { Store } from '../../manager/store/store.js';
import type { TaskView } from '../../shared/api.js';
import { FakeClock } from '../../shared/clock.js';
import {
  REGISTRY_FALLBACK_NOTE,
  type AssignedImage,
  type ImageRecord,
} from '../../shared/images/cluster-image.js';
import { memoryLogger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { serviceSpecSchema, taskTemplateSchema } from '../../shared/spec.js';
import { optionsChangeSchema } from '../../shared/task-options-change.js';
import { captureCalls } from '../helpers/cli-stub.js';
import { nodeRecord } from '../helpers/records.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const IMAGE = 'registry.example:5000/app:1';

const clusterImage: AssignedImage = {
  name: IMAGE,
  digest: d('a'),
  platform: {
    manifestDigest: d('a'),
    manifestSize: 10,
    configDigest: d('b'),
    configSize: 10,
    layers: [],
    os: 'linux',
    architecture: 'amd64',
  },
};

function task(extra: Partial<AssignedTask> = {}, fallback = false): AssignedTask {
  return {
    id: 't1',
    serviceId: 's1',
    serviceName: 'app',
    slot: 1,
    template: taskTemplateSchema.parse({
      image: IMAGE,
      ...(fallback ? { registryFallback: true } : {}),
    }),
    notBefore: 0,
    specVersion: 1,
    ...extra,
  };
}

test('without --registry-fallback a cluster-stored image never comes from a registry', () => {
  assert.deepEqual(imageSourceOf(task({ clusterImage }), true), {
    from: 'cluster',
    image: clusterImage,
    fallback: false,
  });
  assert.deepEqual(imageSourceOf(task({ clusterImageMissing: 'no arm64' }), true), {
    from: 'none',
    why: 'no arm64',
  });
  assert.equal(imageSourceOf(task({ clusterImage }), false).from, 'none');
  // An image the fleet does not store is pulled from its registry, as before.
  assert.deepEqual(imageSourceOf(task(), true), { from: 'registry' });
  assert.deepEqual(imageSourceOf(task({}, true), true), { from: 'registry' });
});

test('with --registry-fallback the fleet still comes first; the registry stands in when it cannot serve', () => {
  assert.deepEqual(imageSourceOf(task({ clusterImage }, true), true), {
    from: 'cluster',
    image: clusterImage,
    fallback: true,
  });
  assert.deepEqual(imageSourceOf(task({ clusterImageMissing: 'no arm64' }, true), true), {
    from: 'fallback',
    why: 'no arm64',
  });
  assert.equal(imageSourceOf(task({ clusterImage }, true), false).from, 'fallback');
  assert.ok(fallbackNote('x').startsWith(`${REGISTRY_FALLBACK_NOTE}: x`));
});

/** A Docker engine that pulls `pullable` (giving it a repo digest) and holds nothing else. */
function fakeDocker(pullable: boolean) {
  const pulls: string[] = [];
  const auths: unknown[] = [];
  const held = new Set<string>();
  const docker = {
    pull: (ref: string, opts: { authconfig?: unknown }) => {
      pulls.push(ref);
      auths.push(opts.authconfig);
      const line = pullable ? { status: 'Downloaded' } : { error: `pull access denied for ${ref}` };
      if (pullable) held.add(ref);
      return Promise.resolve(Readable.from([JSON.stringify(line) + '\n']));
    },
    getImage: (ref: string) => ({
      inspect: () =>
        held.has(ref)
          ? Promise.resolve({ RepoDigests: [`registry.example:5000/app@${d('e')}`] })
          : Promise.reject(Object.assign(new Error('no such image'), { statusCode: 404 })),
    }),
  };
  return { docker: docker as unknown as Docker, pulls, auths };
}

function images(docker: Docker, fleetWorks: boolean): DockerImages {
  const imgs = new DockerImages({
    docker,
    socketPath: '/fake.sock',
    clock: new FakeClock(),
    log: memoryLogger(),
    pullTimeoutMs: 60_000,
  });
  const provider: ClusterImageProvider = {
    ensure: () =>
      fleetWorks ? Promise.resolve() : Promise.reject(new Error('not connected to a manager')),
    isLoaded: () => false,
  };
  imgs.useCluster(provider);
  return imgs;
}

test("a failed fetch of the fleet's copy pulls the same reference when allowed, and says so", async () => {
  const { docker, pulls, auths } = fakeDocker(true);
  const auth = { username: 'u', password: 'p', serveraddress: 'registry.example:5000' };
  const got = await images(docker, false).prepare(task({ clusterImage }, true), auth);
  assert.deepEqual(pulls, [IMAGE]);
  assert.deepEqual(auths, [auth], "with the service's registry credentials");
  assert.equal(got.ref, IMAGE);
  assert.equal(got.digest, d('e'), 'the registry digest is reported');
  assert.match(got.note ?? '', /^image pulled from the registry: .*not connected to a manager/);

  const fine = fakeDocker(true);
  const ran = await images(fine.docker, true).prepare(task({ clusterImage }, true));
  assert.deepEqual(fine.pulls, [], 'the fleet serves it: no pull');
  assert.deepEqual(ran, { ref: IMAGE, digest: d('a'), note: CLUSTER_NOTE });
});

test('without the flag a failed fetch fails the task and no registry is asked', async () => {
  const { docker, pulls } = fakeDocker(true);
  await assert.rejects(
    images(docker, false).prepare(task({ clusterImage })),
    (e: unknown) => e instanceof ImageUnavailableError && /not connected/.test(e.message),
  );
  await assert.rejects(
    images(docker, true).prepare(task({ clusterImageMissing: 'the fleet stores it for arm64' })),
    (e: unknown) => e instanceof ImageUnavailableError && /for arm64/.test(e.message),
  );
  assert.deepEqual(pulls, []);
});

test('a fallback whose pull fails too gives both reasons', async () => {
  const { docker } = fakeDocker(false);
  await assert.rejects(
    images(docker, false).prepare(task({ clusterImage }, true)),
    (e: unknown) =>
      e instanceof ImageUnavailableError &&
      /not connected to a manager/.test(e.message) &&
      /registry fallback failed: pull failed: pull access denied/.test(e.message),
  );
});

test('the dispatcher says why the fleet has no copy for a node of another architecture', () => {
  const store = new Store(':memory:');
  const rec: ImageRecord = {
    id: 'img-1',
    name: IMAGE,
    digest: d('a'),
    platforms: [clusterImage.platform],
    size: 20,
    pushedTo: 'm1',
    createdAt: 0,
  };
  store.apply({
    commands: [
      { type: 'node.put', node: nodeRecord('pi', { arch: 'arm64' }) },
      { type: 'image.put', image: rec },
    ],
  });
  assert.deepEqual(clusterImageFor(store, undefined, 'pi', IMAGE), {
    clusterImageMissing: `the fleet stores ${IMAGE} for linux/amd64 only, not for this node's linux/arm64`,
  });
});

test('--registry-fallback on create and update reaches the spec; =false takes it off', async () => {
  const created = await captureCalls([
    'service',
    'create',
    '-d',
    '--name',
    'app',
    '--registry-fallback',
    IMAGE,
  ]);
  assert.equal(created.exitCode, 0, created.stderr);
  const params = created.calls.find((c) => c.method === 'service.create')?.params as {
    spec: { task: { registryFallback?: boolean } };
  };
  assert.equal(params.spec.task.registryFallback, true);

  const updated = await captureCalls([
    'service',
    'update',
    '-d',
    '--registry-fallback=false',
    'app',
  ]);
  assert.equal(updated.exitCode, 0, updated.stderr);
  const change = updated.calls.find((c) => c.method === 'service.update')?.params as {
    options: { registryFallback?: boolean };
  };
  assert.equal(change.options.registryFallback, false);
  const before = serviceSpecSchema.parse({
    name: 'app',
    task: { image: IMAGE, registryFallback: true },
  });
  const after = applyOptionsChange(before, optionsChangeSchema.parse(change.options));
  assert.equal('registryFallback' in after.task, false, 'turned off, the field goes');
  const on = applyOptionsChange(after, optionsChangeSchema.parse({ registryFallback: true }));
  assert.equal(on.task.registryFallback, true);
});

test('service ps marks a task whose image the registry stood in for', () => {
  const t = {
    id: 't1',
    name: 'app.1',
    service: 'app',
    slot: 1,
    image: IMAGE,
    node: 'n1',
    desiredState: 'running',
    state: 'running',
    message: `running (${fallbackNote('could not get it from the cluster')})`,
    error: null,
    hostPorts: [],
    health: 'none',
    restarts: 0,
    updatedAt: new Date().toISOString(),
  } as unknown as TaskView;
  const state = (v: TaskView): string =>
    String(taskListing.rows([v], { noTrunc: false })[0]?.CurrentState);
  assert.match(state(t), /^Running \(from registry\) /);
  assert.doesNotMatch(state({ ...t, message: 'running' }), /registry/);
});
