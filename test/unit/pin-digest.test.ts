// The digest a spec version's first task resolved: the same for every task of it, read once per service and round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pinOf, type PinMemo } from '../../manager/dispatcher/task-files.js';
import type { StoreView } from '../../manager/store/view.js';
import { taskTemplateSchema, type TaskRecord } from '../../shared/spec.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;

function task(id: string, createdAt: number, specVersion: number, digest?: string): TaskRecord {
  return {
    id,
    serviceId: 's1',
    serviceName: 'web',
    slot: 1,
    nodeId: 'n1',
    desiredState: 'running',
    specVersion,
    template: taskTemplateSchema.parse({ image: 'web:latest' }),
    status: {
      ...{ state: 'running', message: '', error: null, exitCode: null, hostPorts: [] },
      ...{ runtimeId: null, restarts: 0, at: 0, ...(digest ? { digest } : {}) },
    },
    notBefore: 0,
    restartHistory: [],
    createdAt,
    updatedAt: createdAt,
  };
}

test('each spec version pins the digest its earliest task resolved, reading the service once', () => {
  const tasks = [
    task('t3', 30, 1, D('b')),
    task('t1', 10, 1, D('a')),
    task('t2', 20, 1),
    task('t4', 40, 2, D('c')),
    task('t5', 50, 2),
    task('t6', 60, 3),
  ];
  let reads = 0;
  const store = {
    tasksOfService: () => {
      reads++;
      return tasks;
    },
  } as unknown as StoreView;
  const memo: PinMemo = new Map();
  const pins = tasks.map((t) => pinOf(store, t, memo).pinnedDigest);
  assert.deepEqual(pins, [D('a'), D('a'), D('a'), D('c'), D('c'), undefined]);
  assert.equal(reads, 1);
  // Without a memo it reads every time and answers the same.
  assert.equal(pinOf(store, task('t7', 70, 1)).pinnedDigest, D('a'));
});
