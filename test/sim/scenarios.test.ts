// Runs every scenario file under test/sim/scenarios and compares each block's output with the expected one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommand, parseScenario, renderScenario, runScenario } from './scenario.js';

// Scenario files are not compiled: from dist/test/sim/ go back to the source tree.
const here = dirname(fileURLToPath(import.meta.url));
const dir = resolve(here, '../../../test/sim/scenarios');
const rewrite = process.env.FLEET_SCENARIO_REWRITE === '1';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

test('scenario files are present', () => {
  assert.ok(files.length >= 10, `only ${files.length} scenario files in ${dir}`);
});

for (const file of files) {
  test(`scenario ${file}`, () => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const { blocks, outputs, trailer } = runScenario(text);
    if (rewrite) {
      writeFileSync(path, renderScenario(blocks, outputs, trailer));
      return;
    }
    blocks.forEach((b, i) => {
      const actual = (outputs[i] ?? []).join('\n');
      const expected = b.expected.join('\n');
      assert.equal(
        actual,
        expected,
        `${file}:${b.line}: output of\n  ${b.commands.join('\n  ')}\ndiffers (FLEET_SCENARIO_REWRITE=1 rewrites it)`,
      );
    });
  });
}

test('scenario parser: blocks, comments and round trip', () => {
  const text = '# title\n\ncmd a b=(1,2)\ncmd2\n----\nout1\nout2\n\n# next\nx\n----\nok\n';
  const { blocks, trailer } = parseScenario(text);
  assert.equal(blocks.length, 2);
  assert.deepEqual(blocks[0]?.commands, ['cmd a b=(1,2)', 'cmd2']);
  assert.deepEqual(blocks[0]?.expected, ['out1', 'out2']);
  assert.deepEqual(blocks[1]?.preamble, ['', '# next']);
  assert.equal(blocks[1]?.line, 10);
  assert.equal(
    renderScenario(
      blocks,
      blocks.map((b) => b.expected),
      trailer,
    ),
    text,
  );
  assert.throws(() => parseScenario('cmd\n'), /without a ---- line/);
  const c = parseCommand('add-nodes 3 voters=(1, 2,3) prevote=true (4,5)');
  assert.equal(c.name, 'add-nodes');
  assert.deepEqual(c.args, ['3', '(4,5)']);
  assert.equal(c.opts.get('voters'), '(1, 2,3)');
  assert.equal(c.opts.get('prevote'), 'true');
});
