// A board's first boot without QEMU: an agent started from fleet.json joins with the file's name pattern and labels, the token leaves the file, a restart rejoins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  boardStart,
  forgetBoardToken,
  readBoardSettings,
  renderBoardName,
} from '../../agent/board-config.js';
import {
  cliJson,
  spawnFleet,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type NodeJson,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

test('a hostname pattern becomes a valid node name', () => {
  const facts = { serial: '10000000abcdef12', mac: 'dca632112233' };
  assert.equal(renderBoardName('fleet-{serial}', facts), 'fleet-10000000abcdef12');
  assert.equal(renderBoardName('Rack_A-{mac}', facts), 'rack-a-dca632112233');
  assert.equal(renderBoardName('{mac}', { serial: '', mac: '' }), 'fleet-board');
  assert.equal(renderBoardName('x'.repeat(80), facts).length, 63);
});

test('a settings file that is missing or wrong is refused with the file and the key', async () => {
  const dir = tempDir('board-bad');
  await assert.rejects(readBoardSettings(path.join(dir, 'none.json')), /cannot read/);
  const file = path.join(dir, 'fleet.json');
  await fs.writeFile(file, '{"version":1,"managers":["nope"]}');
  await assert.rejects(readBoardSettings(file), /fleet\.json: .*managers\.0: a manager address/);
  await fs.writeFile(file, '{"version":1,');
  await assert.rejects(readBoardSettings(file), /not JSON/);
});

test(
  'an agent started from fleet.json joins as the file says, drops the token, and rejoins',
  {
    timeout: 90_000,
  },
  async (t) => {
    const m = await startManager({ host: '127.0.0.70' });
    t.after(() => stopProc(m.proc));
    const dir = tempDir('board');
    const file = path.join(dir, 'fleet.json');
    const settings = {
      version: 1,
      managers: [m.address],
      token: m.workerToken,
      hostname: 'pi-{serial}',
      labels: { rack: 'r1', zone: 'a' },
    };
    await fs.writeFile(file, JSON.stringify(settings));
    const expected = boardStart(await readBoardSettings(file), {
      serial: 'x',
      mac: 'y',
    });
    assert.deepEqual(expected.labels, { rack: 'r1', zone: 'a' });
    const dataDir = path.join(dir, 'agent');
    const args = [
      'agent',
      'start',
      '--config',
      file,
      '--data-dir',
      dataDir,
      '--runtime',
      'process',
    ];
    args.push('--advertise-addr', '127.0.0.71');
    let agent = spawnFleet(args, path.join(dir, 'agent.log'));
    t.after(() => stopProc(agent));
    const [node] = await waitForNodes(m, 1, 30_000);
    assert.ok(node);
    assert.match(node.name, /^pi-[a-z0-9-]+$/);
    assert.deepEqual(node.labels, { rack: 'r1', zone: 'a' });
    const left = await waitFor(
      async () => {
        const text = await fs.readFile(file, 'utf8');
        return text.includes('token') ? null : text;
      },
      { what: 'the token gone from fleet.json', timeoutMs: 20_000 },
    );
    const { token: _gone, ...kept } = settings;
    void _gone;
    assert.deepEqual(JSON.parse(left), kept);
    await stopProc(agent);
    agent = spawnFleet(args, path.join(dir, 'agent-2.log'));
    await waitFor(
      async () => {
        const nodes = await cliJson<NodeJson[]>(m, ['node', 'ls']);
        const same = nodes.filter((n) => !n.manager);
        return same.length === 1 && same[0]?.id === node.id && same[0].status === 'ready'
          ? true
          : null;
      },
      { what: 'the same node ready again after a restart without a token', timeoutMs: 30_000 },
    );
  },
);

test('forgetting the token of a file without one changes nothing', async () => {
  const dir = tempDir('board-none');
  const file = path.join(dir, 'fleet.json');
  await fs.writeFile(file, '{"version":1,"managers":["127.0.0.1:4883"]}\n');
  assert.equal(await forgetBoardToken(file, await readBoardSettings(file)), false);
  assert.equal(await fs.readFile(file, 'utf8'), '{"version":1,"managers":["127.0.0.1:4883"]}\n');
});
