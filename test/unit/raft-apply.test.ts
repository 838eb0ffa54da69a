// Applying committed conf entries to the store: a readable change updates the members, any other is consumed and changes nothing, as in the core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyEntry } from '../../manager/raft/apply.js';
import { parseConfChange, type Entry } from '../../manager/raft/core/index.js';
import { encodeMemberContext } from '../../manager/raft/entries.js';
import { Store } from '../../manager/store/store.js';

function withStore(body: (store: Store) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-raft-apply-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    body(store);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const conf = (index: number, data: string): Entry => ({ index, term: 1, type: 'conf', data });

test('a conf entry adds, keeps the address of, and removes a member', () => {
  withStore((store) => {
    const add = JSON.stringify({ op: 'add-learner', id: 'b', context: encodeMemberContext('b:1') });
    assert.equal(applyEntry(store, conf(1, add)).index, 1);
    assert.deepEqual(store.members(), [{ id: 'b', address: 'b:1' }]);
    applyEntry(store, conf(2, JSON.stringify({ op: 'add-voter', id: 'b' })));
    assert.deepEqual(store.members(), [{ id: 'b', address: 'b:1' }], 'a promotion keeps it');
    applyEntry(store, conf(3, JSON.stringify({ op: 'remove', id: 'b' })));
    assert.deepEqual(store.members(), []);
    assert.equal(store.appliedIndex, 3);
  });
});

test('a conf entry the core cannot read is consumed without a membership change', () => {
  withStore((store) => {
    applyEntry(store, conf(1, JSON.stringify({ op: 'add-voter', id: 'a', context: '' })));
    const before = store.members();
    for (const [i, data] of ['not json', '{"op":"demote","id":"a"}', '{"op":"remove"}'].entries()) {
      const e = conf(2 + i, data);
      assert.equal(parseConfChange(e), undefined, `the core ignores ${data}`);
      const changes = applyEntry(store, e);
      assert.equal(changes.index, e.index);
      assert.equal(store.appliedIndex, e.index, `${data} consumes its index`);
      assert.deepEqual(store.members(), before, `${data} changes no member`);
    }
  });
});
