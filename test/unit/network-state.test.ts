// The network side's edges without an engine: tables refused or ignored, and the state kept across restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetworkDiscovery } from '../../agent/network/discovery.js';
import { NetworkStateStore } from '../../agent/network/state-store.js';
import { parseDockerHost } from '../../shared/docker-host.js';
import { memoryLogger, silentLogger } from '../../shared/log.js';
import type { DiscoveryTable } from '../../shared/network.js';

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'fleet-netstate-'));
}

test('an empty payload is no table, and a bad table is refused with a reason', async () => {
  const dir = await tempDir();
  const logger = memoryLogger();
  // A socket that does not exist: nothing here may reach an engine.
  const d = new NetworkDiscovery({
    nodeId: 'n1',
    dataDir: dir,
    logger,
    dockerHost: parseDockerHost(path.join(dir, 'no.sock')),
  });
  try {
    d.onTable(Buffer.alloc(0));
    assert.equal(logger.lines.length, 0);
    d.onTable(Buffer.from('{"v":1,"version":-1,"networks":[],"stacks":[]}'));
    d.onTable(Buffer.from('not json'));
    const dropped = logger.lines.filter((l) => l.includes('dropped discovery table'));
    assert.equal(dropped.length, 2);
  } finally {
    await d.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a bad network pool fails at construction, naming the flag', () => {
  assert.throws(
    () =>
      new NetworkDiscovery({
        nodeId: 'n1',
        dataDir: '/nonexistent',
        logger: silentLogger,
        pool: '10.0.0.0/30',
      }),
    /--network-pool/,
  );
});

test('virtual addresses and the last table survive a restart; a damaged file starts over', async () => {
  const dir = await tempDir();
  try {
    const a = new NetworkStateStore(dir, silentLogger);
    assert.equal(await a.load(), null);
    await a.setVips('net', { myapp_web: 128, myapp_db: 129 });
    const table: DiscoveryTable = { v: 1, version: 4, networks: [], stacks: ['myapp'] };
    await a.saveTable(table);
    const b = new NetworkStateStore(dir, silentLogger);
    assert.deepEqual(await b.load(), table);
    assert.deepEqual(b.vipsOf('net'), { myapp_web: 128, myapp_db: 129 });
    await fs.writeFile(path.join(dir, 'network-vips.json'), '{"v":1,"networks":{"net":{"a":999}}}');
    const logger = memoryLogger();
    const c = new NetworkStateStore(dir, logger);
    await c.load();
    assert.deepEqual(c.vipsOf('net'), {});
    assert.ok(logger.lines.some((l) => l.includes('damaged')));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
