// service update --args and --entrypoint on the manager: the command and entrypoint replaced, an empty entrypoint back to the image's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { params } from '../../shared/api.js';
import { newDataKey } from '../../shared/sealing.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { buildSpec } from '../../manager/cli/service/spec.js';
import { Store } from '../../manager/store/store.js';

test('update replaces the command and entrypoint; an empty entrypoint returns to the image', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-entrypoint-unit-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    const ctx: HandlerContext = { store, now: 1000, managerId: 'm', dataKey: newDataKey() };
    const spec = buildSpec({ name: 'cache', image: 'redis', command: ['redis-server'] });
    const created = handlers['service.create'](params['service.create'].parse({ spec }), ctx);
    store.apply({ commands: created.commands ?? [] });
    const update = (p: object) => {
      const r = handlers['service.update'](
        params['service.update'].parse({ service: 'cache', ...p }),
        ctx,
      );
      store.apply({ commands: r.commands ?? [] });
      return r.result.spec.task;
    };
    const set = update({
      command: ['redis-server', '--save', ''],
      entrypoint: ['/bin/tini', '--'],
    });
    assert.deepEqual(set.command, ['redis-server', '--save', '']);
    assert.deepEqual(set.entrypoint, ['/bin/tini', '--']);
    assert.deepEqual(update({ image: 'redis:7' }).entrypoint, ['/bin/tini', '--'], 'kept');
    const cleared = update({ entrypoint: [] });
    assert.equal('entrypoint' in cleared, false);
    assert.deepEqual(cleared.command, ['redis-server', '--save', ''], 'the command stays');
  } finally {
    store.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
