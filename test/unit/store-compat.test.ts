// The store's observable results (change sets, refusals, dumps, reopened files) stay byte for byte as recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../manager/store/store.js';
import { runStoreScenario, type ScenarioResult } from '../helpers/store-scenario.js';

const FIXTURE = path.join(import.meta.dirname, '../../../test/fixtures/store-scenario.json');

test('every command, refusal, dump, reopen and restore matches the recorded results', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-store-compat-'));
  try {
    const expected = JSON.parse(await fs.readFile(FIXTURE, 'utf8')) as ScenarioResult;
    const got = runStoreScenario(path.join(dir, 'a.db'), path.join(dir, 'b.db'));
    assert.deepEqual(got.outcomes, expected.outcomes);
    assert.equal(got.live, expected.live);
    assert.equal(got.reopened, expected.reopened);
    assert.equal(got.restored, expected.restored);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a data file written before the record kinds became a table opens with the same content', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-store-compat-'));
  try {
    const expected = JSON.parse(await fs.readFile(FIXTURE, 'utf8')) as ScenarioResult;
    const file = path.join(dir, 'state.db');
    await fs.copyFile(path.join(path.dirname(FIXTURE), 'store-v1.db'), file);
    const store = new Store(file);
    try {
      assert.equal(store.dump(), expected.reopened);
    } finally {
      store.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
