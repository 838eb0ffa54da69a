// Retried client writes: a proposal carrying an idempotency key already applied takes no effect again, before or after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { params } from '../../shared/api.js';
import { newDataKey } from '../../shared/sealing.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { WriteConflict } from '../../manager/store/conflict.js';
import { Store } from '../../manager/store/store.js';

test('a retried request with the same idempotency key is applied once, also after a restart', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-idempotency-unit-'));
  try {
    const file = path.join(dir, 'state.db');
    let store = new Store(file);
    const ctx = (s: Store): HandlerContext => ({
      store: s,
      now: 1000,
      managerId: 'm',
      dataKey: newDataKey(),
    });
    const input = params['config.create'].parse({ name: 'once', data: 'AA==' });
    const key = 'admin-1:request-1';

    // The first copy of the request commits and stores its answer under the key.
    const first = handlers['config.create'](input, ctx(store));
    store.apply({ commands: first.commands ?? [], request: { key, response: first.result } });
    assert.deepEqual(store.requestResponse(key), first.result);
    const indexAfterFirst = store.appliedIndex;

    // A second copy, prepared before the first was applied (as on a leader that received the
    // retry while the original was in flight), commits too: it takes no effect.
    const empty = new Store(path.join(dir, 'other.db'));
    const second = handlers['config.create'](input, ctx(empty));
    empty.close();
    assert.ok(second.commands && second.commands.length > 0, 'the copy would create a config');
    assert.throws(
      () =>
        store.apply({ commands: second.commands ?? [], request: { key, response: second.result } }),
      (e: unknown) => e instanceof WriteConflict && /already applied/.test(e.message),
    );
    assert.equal(store.appliedIndex, indexAfterFirst + 1, 'the entry still consumes its index');
    assert.equal([...store.configs()].length, 1, 'one config');
    assert.deepEqual(store.requestResponse(key), first.result, 'the first answer is kept');

    // After a restart the key is still known: a retry is answered from the record.
    store.close();
    store = new Store(file);
    assert.deepEqual(store.requestResponse(key), first.result);
    assert.throws(
      () =>
        store.apply({ commands: second.commands ?? [], request: { key, response: second.result } }),
      WriteConflict,
    );
    assert.equal([...store.configs()].length, 1);
    assert.equal(store.requestResponse('admin-1:another-request'), undefined);
    store.close();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
