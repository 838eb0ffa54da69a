// A record kind is one declaration: its schema, statements, lookups and undo come from the generic table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { effectOf } from '../../manager/store/effects.js';
import { KINDS, KIND_NAMES } from '../../manager/store/kinds.js';
import { Table, kindSchema, type KindSpec } from '../../manager/store/table.js';

interface Widget {
  id: string;
  name: string;
  owner: string | null;
}

const widgets: KindSpec<Widget> = {
  table: 'widgets',
  columns: [
    { name: 'name', sql: 'TEXT NOT NULL UNIQUE', of: (w) => w.name },
    { name: 'owner', sql: 'TEXT', of: (w) => w.owner },
  ],
  put: 'update',
  lookups: { owner: (w) => w.owner },
  frame: z.object({ id: z.string() }).loose(),
  touch: (ch, id) => void ch.services.add(id),
};

test('a declared kind gets its table, puts, removes, lookups and undo', () => {
  const db = new Database(':memory:');
  try {
    assert.equal(
      kindSchema(widgets),
      'CREATE TABLE IF NOT EXISTS widgets (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, owner TEXT, data TEXT NOT NULL);',
    );
    db.exec(kindSchema(widgets));
    const t = new Table(db, widgets);
    t.put({ id: 'w1', name: 'one', owner: 'ann' });
    t.put({ id: 'w2', name: 'two', owner: 'ann' });
    t.put({ id: 'w3', name: 'three', owner: null });
    assert.deepEqual(
      t.lookup('owner', 'ann').map((w) => w.id),
      ['w1', 'w2'],
    );
    // A record moving to another owner leaves the old lookup; rewritten records go last.
    const saved = new Map<string, Widget | undefined>();
    t.save(['w1', 'w4'], saved);
    t.put({ id: 'w1', name: 'one', owner: 'bob' });
    t.put({ id: 'w4', name: 'four', owner: 'bob' });
    assert.deepEqual(
      t.lookup('owner', 'ann').map((w) => w.id),
      ['w2'],
    );
    assert.deepEqual(
      [...t.values()].map((w) => w.id),
      ['w2', 'w3', 'w1', 'w4'],
    );
    // A unique name is refused by SQLite, never silently taken from the other row.
    assert.throws(() => t.put({ id: 'w5', name: 'two', owner: null }), /UNIQUE/);
    t.undo(saved);
    assert.equal(t.get('w4'), undefined);
    assert.deepEqual(
      t.lookup('owner', 'ann').map((w) => w.id),
      ['w2', 'w1'],
    );
    t.remove('w2');
    const reloaded = new Table(db, widgets);
    reloaded.load();
    assert.deepEqual(
      [...reloaded.values()].map((w) => [w.id, w.owner]).sort(),
      [
        ['w1', 'bob'],
        ['w3', null],
        ['w4', 'bob'],
      ],
      'the database holds what was written, undo only puts memory back',
    );
  } finally {
    db.close();
  }
});

test('every command names a declared kind (or the cluster record)', () => {
  for (const e of [
    effectOf({ type: 'node.remove', id: 'x' }),
    effectOf({ type: 'tasks.delete', ids: ['x'] }),
    effectOf({ type: 'secret.remove', id: 'x' }),
    effectOf({ type: 'config.remove', id: 'x' }),
    effectOf({ type: 'service.remove', id: 'x' }),
  ]) {
    assert.ok(e.kind !== 'cluster' && KIND_NAMES.includes(e.kind));
    assert.equal(KINDS[e.kind].table, e.kind);
  }
  assert.equal(
    effectOf({ type: 'cluster.tokens', workerToken: 'w', managerToken: 'm' }).kind,
    'cluster',
  );
});
