// `fleet stack` against a real manager process: broken files refused before anything changes, real-world files deployed, listings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLEET, cli, cliJson, startManager, stopProc } from '../helpers/cluster.js';

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../test/fixtures/compose',
);
const bad = readdirSync(path.join(FIXTURES, 'bad')).filter((f) => f.endsWith('.yml'));

test(
  'stack deploy of broken, real-world and redeployed files on a manager',
  { timeout: 240_000 },
  async (t) => {
    const m = await startManager({ host: '127.0.0.60' });
    t.after(() => stopProc(m.proc));

    await t.test('every broken file is refused with its place, and nothing changes', async () => {
      assert.ok(bad.length >= 15, `${bad.length} broken files`);
      for (const f of bad) {
        const file = path.join(FIXTURES, 'bad', f);
        const r = await cli(m, ['stack', 'deploy', '-c', file, 'broken'], 30_000);
        assert.notEqual(r.code, 0, `${f} was deployed`);
        assert.match(r.stderr, new RegExp(`${f.replace('.', '\\.')}:\\d+`), `${f}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /\n\s+at /, `${f} printed a stack trace: ${r.stderr}`);
      }
      assert.deepEqual(await cliJson(m, ['stack', 'ls']), []);
      assert.deepEqual(await cliJson(m, ['service', 'ls']), []);
      assert.deepEqual(await cliJson(m, ['network', 'ls']), []);
    });

    await t.test("Docker's voting app deploys as a stack, and stack config prints it", async () => {
      const file = path.join(FIXTURES, 'real', 'voting-app-stack.yml');
      const config = await cli(m, ['stack', 'config', '-c', file]);
      assert.equal(config.code, 0, config.stderr);
      assert.match(config.stdout, /services:/);
      const r = await cli(m, ['stack', 'deploy', '--detach', '-c', file, 'vote'], 60_000);
      assert.equal(r.code, 0, r.stderr);
      const services = await cliJson<{ name: string }[]>(m, ['stack', 'services', 'vote']);
      assert.ok(services.length >= 4, JSON.stringify(services));
      assert.ok(services.every((s) => s.name.startsWith('vote_')));
      const again = await cli(m, ['stack', 'deploy', '--detach', '-c', file, 'vote'], 60_000);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /is unchanged/);
      assert.doesNotMatch(again.stdout, /Updating service/);
      const rm = await cli(m, ['stack', 'rm', 'vote'], 60_000);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(await cliJson(m, ['stack', 'ls']), []);
      assert.deepEqual(await cliJson(m, ['network', 'ls']), []);
    });

    await t.test('-c - reads the file from standard input', () => {
      const text = readFileSync(path.join(FIXTURES, 'good', 'reference.yml'), 'utf8');
      const r = spawnSync(process.execPath, [FLEET, 'stack', 'config', '-c', '-'], {
        input: text,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /rabbit:/);
    });

    await t.test('an unknown stack is named in the error', async () => {
      const none = await cli(m, ['stack', 'ps', 'nothing']);
      assert.notEqual(none.code, 0);
      assert.match(none.stderr, /stack nothing/);
    });
  },
);
