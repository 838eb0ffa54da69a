// The follower's early verdict: one permanent rejection on every eligible node gives up; anything else keeps following.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceDetail, TaskView } from '../../shared/api.js';
import { serviceSpecSchema } from '../../shared/spec.js';
import type { RejectReason } from '../../shared/reject-reasons.js';
import { cannotConverge } from '../../manager/cli/service/stuck.js';

function detail(eligibleNodes: string[], specVersion = 1): ServiceDetail {
  return {
    id: 's1',
    name: 'app',
    mode: 'replicated',
    replicas: { running: 0, desired: 1 },
    image: 'app:1',
    ports: [],
    spec: serviceSpecSchema.parse({ name: 'app', task: { image: 'app:1' } }),
    ingress: [],
    specVersion,
    eligibleNodes,
    digest: null,
    withRegistryAuth: false,
    createdAt: '',
    updatedAt: '',
  };
}

let seq = 0;
function task(
  node: string,
  state: string,
  reasonCode?: RejectReason,
  extra: Partial<TaskView> = {},
): TaskView {
  seq++;
  return {
    id: `t${seq}`,
    name: 'app.1',
    service: 'app',
    slot: 1,
    image: 'app:1',
    specVersion: 1,
    node,
    nodeName: node,
    desiredState: state === 'rejected' ? 'shutdown' : 'running',
    state,
    message: state,
    error: state === 'rejected' ? `refused on ${node}` : null,
    restarts: 0,
    health: 'none',
    hostPorts: [],
    digest: null,
    updatedAt: new Date(1_000_000 + seq * 1000).toISOString(),
    ...(reasonCode ? { reasonCode } : {}),
    ...extra,
  };
}

const PULL: RejectReason = 'image-unavailable';

test('the same permanent reason on every eligible node gives up, with the reason and what to do', () => {
  const verdict = cannotConverge(detail(['a', 'b']), [
    task('a', 'rejected', PULL),
    task('b', 'rejected', PULL),
  ]);
  assert.ok(verdict);
  assert.equal(verdict.code, 'image-unavailable');
  assert.match(verdict.message, /^none of the 2 suitable nodes can pull app:1: refused on a — /);
  assert.match(verdict.message, /registry the boards reach/);
});

test('a wrong architecture on the only node gives up and says to build for the boards', () => {
  const verdict = cannotConverge(detail(['a']), [task('a', 'rejected', 'platform')]);
  assert.match(
    verdict?.message ?? '',
    /^the only suitable node cannot run app:1: refused on a — build/,
  );
  assert.match(verdict?.message ?? '', /--platform/);
});

test('a node not yet tried, or still trying, keeps the follower waiting; a queued retry on a refusing node does not', () => {
  assert.equal(cannotConverge(detail(['a', 'b']), [task('a', 'rejected', PULL)]), null);
  assert.equal(
    cannotConverge(detail(['a', 'b']), [task('a', 'rejected', PULL), task('b', 'preparing')]),
    null,
  );
  // A retry queued behind its restart delay on a node that refused for good changes nothing.
  assert.ok(cannotConverge(detail(['a']), [task('a', 'rejected', PULL), task('a', 'assigned')]));
});

test('a transient reason, a reason without a code or two different reasons keep following', () => {
  assert.equal(
    cannotConverge(detail(['a', 'b']), [
      task('a', 'rejected', PULL),
      task('b', 'rejected', 'resources'),
    ]),
    null,
  );
  assert.equal(
    cannotConverge(detail(['a', 'b']), [task('a', 'rejected', PULL), task('b', 'rejected')]),
    null,
  );
  assert.equal(
    cannotConverge(detail(['a', 'b']), [
      task('a', 'rejected', PULL),
      task('b', 'rejected', 'platform'),
    ]),
    null,
  );
});

test('a task running anywhere, or rejections of an older spec, keep following', () => {
  assert.equal(
    cannotConverge(detail(['a', 'b']), [
      task('a', 'rejected', PULL),
      task('b', 'rejected', PULL),
      task('b', 'running', undefined, { name: 'app.2', slot: 2 }),
    ]),
    null,
  );
  assert.equal(
    cannotConverge(detail(['a'], 2), [task('a', 'rejected', PULL)]),
    null,
    'the rejection was of spec version 1',
  );
  assert.equal(
    cannotConverge(detail([]), []),
    null,
    "no eligible node is the scheduler's to explain",
  );
});
