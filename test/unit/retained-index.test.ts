// The broker's retained index: exact subscriptions find their retained message without a scan; wildcards take the original path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { indexRetained, type RetainedPacket } from '../../manager/broker/retained-index.js';

async function read(stream: Readable): Promise<string[]> {
  const out: string[] = [];
  for await (const p of stream) out.push((p as RetainedPacket).topic);
  return out;
}

function fakeStore(): {
  store: Parameters<typeof indexRetained>[0];
  scans: string[][];
  kept: Map<string, RetainedPacket>;
} {
  const kept = new Map<string, RetainedPacket>();
  const scans: string[][] = [];
  const store: Parameters<typeof indexRetained>[0] = {
    storeRetained: (p) => {
      if (p.payload.length === 0) kept.delete(p.topic);
      else kept.set(p.topic, p);
      return Promise.resolve();
    },
    createRetainedStreamCombi: (patterns) => {
      scans.push(patterns);
      return Readable.from([...kept.values()]);
    },
    createRetainedStream: (pattern) => {
      scans.push([pattern]);
      return Readable.from([...kept.values()]);
    },
  };
  return { store, scans, kept };
}

test('exact filters are answered from the index, in their order, without a scan', async () => {
  const { store, scans } = fakeStore();
  indexRetained(store);
  for (let i = 0; i < 1000; i++)
    await store.storeRetained({ topic: `fleet/v1/nodes/n${i}/assignments`, payload: 'x' });
  await store.storeRetained({ topic: 'fleet/v1/leader', payload: 'l' });
  const got = await read(
    store.createRetainedStreamCombi([
      'fleet/v1/nodes/n7/assignments',
      'fleet/v1/nodes/none/assignments',
      'fleet/v1/leader',
    ]),
  );
  assert.deepEqual(got, ['fleet/v1/nodes/n7/assignments', 'fleet/v1/leader']);
  assert.deepEqual(await read(store.createRetainedStream('fleet/v1/leader')), ['fleet/v1/leader']);
  assert.equal(scans.length, 0);
});

test('an empty payload clears the retained message from the index too', async () => {
  const { store, kept } = fakeStore();
  indexRetained(store);
  await store.storeRetained({ topic: 't/a', payload: Buffer.from('x') });
  await store.storeRetained({ topic: 't/a', payload: Buffer.alloc(0) });
  assert.deepEqual(await read(store.createRetainedStreamCombi(['t/a'])), []);
  assert.equal(kept.size, 0, 'the store below is still told');
});

test('a wildcard filter goes to the original scan', async () => {
  const { store, scans } = fakeStore();
  indexRetained(store);
  await store.storeRetained({ topic: 't/a', payload: 'x' });
  assert.deepEqual(await read(store.createRetainedStreamCombi(['t/a', 't/+'])), ['t/a']);
  assert.deepEqual(await read(store.createRetainedStream('t/#')), ['t/a']);
  assert.deepEqual(scans, [['t/a', 't/+'], ['t/#']]);
});
