// Which platform of a multi-platform cluster image the dispatcher hands each node: its own architecture's, or none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterImageFor } from '../../manager/dispatcher/task-image.js';
import { Store } from '../../manager/store/store.js';
import {
  platformFor,
  type ClusterPlatformImage,
  type ImageRecord,
} from '../../shared/images/cluster-image.js';
import { nodeRecord } from '../helpers/records.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;

function platform(architecture: string, c: string, variant?: string): ClusterPlatformImage {
  return {
    manifestDigest: d(c),
    manifestSize: 400,
    configDigest: d(String.fromCharCode(c.charCodeAt(0) + 1)),
    configSize: 300,
    layers: [{ digest: d('0'), size: 1000, mediaType: 'x', diffId: d('0') }],
    os: 'linux',
    architecture,
    ...(variant !== undefined ? { variant } : {}),
  };
}

const multi: ImageRecord = {
  id: 'img-1',
  name: 'example/multi:1',
  digest: d('f'),
  index: { digest: d('f'), size: 500 },
  platforms: [platform('amd64', 'a'), platform('arm64', 'c', 'v8'), platform('arm', 'e', 'v7')],
  size: 0,
  pushedTo: 'm1',
  createdAt: 0,
};

function storeWith(...nodes: { id: string; arch: string }[]): Store {
  const store = new Store(':memory:');
  store.apply({
    commands: [
      ...nodes.map((n) => ({
        type: 'node.put' as const,
        node: nodeRecord(n.id, { arch: n.arch }),
      })),
      { type: 'image.put' as const, image: multi },
    ],
  });
  return store;
}

test('a node reporting arm64 is given the arm64 platform of a multi-platform image, amd64 its own', () => {
  const store = storeWith({ id: 'pi', arch: 'arm64' }, { id: 'pc', arch: 'amd64' });
  const pi = clusterImageFor(store, undefined, 'pi', 'example/multi:1');
  assert.ok('clusterImage' in pi && pi.clusterImage);
  assert.equal(pi.clusterImage.platform.architecture, 'arm64');
  assert.equal(pi.clusterImage.platform.manifestDigest, d('c'));
  assert.equal(pi.clusterImage.digest, d('f'), 'the record is still named by its index');
  const pc = clusterImageFor(store, undefined, 'pc', 'example/multi:1');
  assert.ok('clusterImage' in pc && pc.clusterImage);
  assert.equal(pc.clusterImage.platform.architecture, 'amd64');
  assert.equal(pc.clusterImage.platform.manifestDigest, d('a'));
});

test('a 32-bit arm node gets the arm platform; a node of an architecture the image lacks is told why', () => {
  const store = storeWith({ id: 'old-pi', arch: 'arm' }, { id: 'vf2', arch: 'riscv64' });
  const arm = clusterImageFor(store, undefined, 'old-pi', 'example/multi:1');
  assert.ok('clusterImage' in arm && arm.clusterImage);
  assert.equal(arm.clusterImage.platform.variant, 'v7');
  // Not nothing: the agent must not pull whatever a registry has under the name instead.
  assert.deepEqual(clusterImageFor(store, undefined, 'vf2', 'example/multi:1'), {
    clusterImageMissing:
      "the fleet stores example/multi:1 for linux/amd64, linux/arm64/v8, linux/arm/v7 only, not for this node's linux/riscv64",
  });
  assert.deepEqual(clusterImageFor(store, undefined, 'old-pi', 'example/other:1'), {});
});

test('platformFor matches os and architecture', () => {
  assert.equal(platformFor(multi, 'linux', 'arm64')?.manifestDigest, d('c'));
  assert.equal(platformFor(multi, 'windows', 'amd64'), undefined);
});
