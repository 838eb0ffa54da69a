// The fill-disk fault's writer: it stops when the fault ends, however much was left to write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFill } from '../../agent/chaos/fill-disk.js';

test('a fill stops writing once told, well short of the bytes planned', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-fill-'));
  try {
    let checks = 0;
    const written = await writeFill(path.join(dir, 'f'), 1024 ** 4, () => ++checks > 3);
    assert.equal(written, 3 * 1024 * 1024);
    assert.equal((await fs.stat(path.join(dir, 'f'))).size, written);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
