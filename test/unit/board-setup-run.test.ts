// How `board setup` runs its steps: one line each, a failed step reported without stopping the rest, fleet.json missing or broken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../shared/clock.js';
import type { SetupContext, SetupStep } from '../../agent/board/context.js';
import { runBoardSetup } from '../../agent/board/setup.js';
import type { RunTool } from '../../agent/board/run-tool.js';

const noTools: RunTool = (cmd) => Promise.reject(new Error(`${cmd} must not run`));

async function settingsFile(text: string): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-setup-run-'));
  const file = path.join(dir, 'fleet.json');
  await fs.writeFile(file, text);
  return file;
}

test('every step runs and logs one line; a failed one is named at the end', async () => {
  const clock = new FakeClock();
  const file = await settingsFile('{"version":1,"managers":["10.0.0.2:8883"]}');
  const seen: SetupContext[] = [];
  const steps: [string, SetupStep][] = [
    [
      'first',
      (ctx) => {
        seen.push(ctx);
        clock.advance(1500);
        return Promise.resolve('did one thing');
      },
    ],
    ['second', () => Promise.reject(new Error('the disk said no'))],
    ['third', () => Promise.resolve('did another')],
  ];
  const lines: string[] = [];
  const result = await runBoardSetup({
    config: file,
    root: path.dirname(file),
    run: noTools,
    clock,
    log: (l) => lines.push(l),
    steps,
  });
  assert.deepEqual(result, { failed: ['second'], noSettings: false });
  assert.deepEqual(lines, [
    'first: did one thing',
    'second: FAILED: the disk said no',
    'third: did another',
    'done in 1.5 s; failed: second',
  ]);
  assert.equal(seen[0]?.live, false);
  assert.equal(seen[0]?.root, path.dirname(file));
  assert.deepEqual(seen[0]?.settings.managers, ['10.0.0.2:8883']);
});

test('a missing fleet.json is logged and nothing runs; a broken one is an error naming the file', async () => {
  const file = await settingsFile('{"version":1,"managers":[]}');
  const never: [string, SetupStep][] = [['x', () => Promise.reject(new Error('ran'))]];
  const lines: string[] = [];
  const opts = {
    root: path.dirname(file),
    run: noTools,
    clock: new FakeClock(),
    log: (l: string) => lines.push(l),
    steps: never,
  };
  const missing = path.join(path.dirname(file), 'gone.json');
  assert.deepEqual(await runBoardSetup({ ...opts, config: missing }), {
    failed: [],
    noSettings: true,
  });
  assert.match(lines[0] ?? '', /^no .*gone\.json: nothing to set up/);
  await assert.rejects(
    runBoardSetup({ ...opts, config: file }),
    /fleet\.json: managers: at least one/,
  );
  await fs.writeFile(file, '{"version":1,');
  await assert.rejects(runBoardSetup({ ...opts, config: file }), /fleet\.json is not JSON/);
  assert.equal(lines.length, 1);
});
