// Pre-flight on the agent: a task the node has no memory or disk for is rejected with a clear reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Preflight,
  formatBytes,
  parseDiskReserve,
  preflightVerdict,
  type PreflightFacts,
} from '../../agent/reconcile/preflight.js';
import { FakeRuntime } from '../../agent/runtime/fake.js';
import { TaskRejectedError, isTaskRejected } from '../../agent/runtime/types.js';
import { memoryLogger } from '../../shared/log.js';
import { assignedTaskSchema, type AssignedTask } from '../../shared/protocol.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const facts = (f: Partial<PreflightFacts> = {}): PreflightFacts => ({
  memoryReserved: 0,
  memoryAvailable: 2 * GiB,
  diskPath: '/var/lib/docker',
  diskFree: 10 * GiB,
  imageBytes: 0,
  minFreeDisk: 256 * MiB,
  ...f,
});

function task(template: object = {}): AssignedTask {
  return assignedTaskSchema.parse({
    id: 'task1',
    serviceId: 'svc1',
    serviceName: 'pfweb',
    slot: 1,
    template: { image: 'busybox', ...template },
  });
}

test('a task that fits in memory and disk passes', () => {
  assert.equal(preflightVerdict(facts()), null);
  assert.equal(preflightVerdict(facts({ memoryReserved: 2 * GiB })), null, 'exactly what is free');
  assert.equal(preflightVerdict(facts({ diskFree: 256 * MiB })), null, 'exactly the reserve');
  assert.equal(
    preflightVerdict(facts({ diskFree: 351 * MiB, imageBytes: 95 * MiB })),
    null,
    'image plus reserve fit',
  );
});

test('a reservation above the available memory is refused with both numbers', () => {
  assert.equal(
    preflightVerdict(facts({ memoryReserved: 512 * MiB, memoryAvailable: 301 * MiB })),
    'not enough memory: the task reserves 512 MiB, 301 MiB is available on this node',
  );
  assert.equal(
    preflightVerdict(facts({ memoryReserved: 512 * MiB, memoryAvailable: null })),
    null,
    'an unknown figure refuses nothing',
  );
});

test('a pull that would eat into the disk reserve is refused with the numbers', () => {
  assert.equal(
    preflightVerdict(facts({ diskFree: 180 * MiB, imageBytes: 95 * MiB })),
    'not enough disk: 180 MiB free on /var/lib/docker, the image needs 95 MiB and the node keeps 256 MiB free',
  );
  assert.equal(
    preflightVerdict(facts({ diskFree: 300 * MiB, imageBytes: 95 * MiB })),
    'not enough disk: 300 MiB free on /var/lib/docker, the image needs 95 MiB and the node keeps 256 MiB free',
    'the image fits but would leave less than the reserve',
  );
});

test('a local image still needs the reserve; an image of unknown size needs at least the reserve', () => {
  assert.equal(
    preflightVerdict(facts({ diskFree: 100 * MiB, imageBytes: 0 })),
    'not enough disk: 100 MiB free on /var/lib/docker and the node keeps 256 MiB free',
  );
  assert.equal(
    preflightVerdict(facts({ diskFree: 100 * MiB, imageBytes: null })),
    'not enough disk: 100 MiB free on /var/lib/docker and the node keeps 256 MiB free' +
      ' (the image is not local and its size is unknown before the pull)',
  );
  assert.equal(preflightVerdict(facts({ diskFree: 300 * MiB, imageBytes: null })), null);
  assert.equal(preflightVerdict(facts({ diskFree: null })), null, 'unreadable: no disk check');
});

test('memory is checked before disk', () => {
  const r = preflightVerdict(
    facts({ memoryReserved: GiB, memoryAvailable: MiB, diskFree: 0, imageBytes: null }),
  );
  assert.match(r ?? '', /^not enough memory/);
});

test('sizes read like --reserve-memory, in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(180 * MiB), '180 MiB');
  assert.equal(formatBytes(1.5 * GiB), '1.5 GiB');
  assert.equal(formatBytes(100_000 * GiB), '97.7 TiB');
});

test('--min-free-disk takes a size or a share of the disk', () => {
  assert.deepEqual(parseDiskReserve('256M'), { bytes: 256 * MiB });
  assert.deepEqual(parseDiskReserve('0'), { bytes: 0 });
  assert.deepEqual(parseDiskReserve('1.5G'), { bytes: 1.5 * GiB });
  assert.deepEqual(parseDiskReserve('5%'), { percent: 5 });
  assert.equal(parseDiskReserve('150%'), null);
  assert.equal(parseDiskReserve('lots'), null);
  assert.equal(parseDiskReserve(''), null);
});

/** A runtime that says where its data lives and whether the image is local. */
class StorageRuntime extends FakeRuntime {
  constructor(private readonly imageBytes: number | null) {
    super();
  }
  async storage(): Promise<{ path: string; imageBytes: number | null }> {
    return { path: '/data/docker', imageBytes: this.imageBytes };
  }
}

test('Preflight reads the runtime, statfs and memory, and throws a rejection the agent reports', async () => {
  const seen: string[] = [];
  const pf = new Preflight({
    runtime: new StorageRuntime(null),
    reserve: { bytes: 256 * MiB },
    logger: memoryLogger(),
    fallbackDir: '/agent',
    statfs: async (dir) => {
      seen.push(dir);
      return { free: 180 * MiB, total: 8 * GiB };
    },
    memoryAvailable: async () => 301 * MiB,
  });
  await assert.rejects(pf.check(task()), (e: unknown) => {
    assert.ok(e instanceof TaskRejectedError);
    assert.ok(isTaskRejected(e), 'the agent turns it into a rejected task');
    assert.match(e.message, /^not enough disk: 180 MiB free on \/data\/docker and the node keeps/);
    return true;
  });
  assert.deepEqual(seen, ['/data/docker']);
  await assert.rejects(
    pf.check(task({ resources: { memoryBytes: 512 * MiB } })),
    /not enough memory: the task reserves 512 MiB, 301 MiB is available on this node/,
  );
});

test('a percentage reserve is taken of the disk; a runtime without storage uses the agent dir', async () => {
  const seen: string[] = [];
  const pf = new Preflight({
    runtime: new FakeRuntime(),
    reserve: { percent: 5 },
    logger: memoryLogger(),
    fallbackDir: '/agent',
    statfs: async (dir) => {
      seen.push(dir);
      return { free: 300 * MiB, total: 8 * GiB };
    },
    memoryAvailable: async () => GiB,
  });
  await assert.rejects(pf.check(task()), /300 MiB free on \/agent and the node keeps 410 MiB free/);
  assert.deepEqual(seen, ['/agent']);
});

test('a disk that cannot be read is logged once and checks nothing', async () => {
  const logger = memoryLogger();
  const pf = new Preflight({
    runtime: new StorageRuntime(null),
    reserve: { bytes: 256 * MiB },
    logger,
    fallbackDir: '/agent',
    statfs: async () => {
      throw new Error('EACCES');
    },
    memoryAvailable: async () => GiB,
  });
  await pf.check(task());
  await pf.check(task());
  assert.equal(logger.lines.filter((l) => l.includes('cannot read free disk space')).length, 1);
});

test('the real statfs and meminfo give numbers on this machine', async () => {
  const pf = new Preflight({
    runtime: new FakeRuntime(),
    reserve: { bytes: 0 },
    logger: memoryLogger(),
    fallbackDir: '/no/such/dir/below/root',
  });
  const f = await pf.facts(task({ resources: { memoryBytes: MiB } }));
  assert.ok(f.diskFree !== null && f.diskFree > 0, 'nearest existing parent is measured');
  assert.ok(f.memoryAvailable !== null && f.memoryAvailable > 0);
  await pf.check(task());
});
