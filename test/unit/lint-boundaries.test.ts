// The lint rules hold the architecture's import boundaries: planted violations are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

// dist/test/unit → the checkout's root, where eslint.config.js lives.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The planted files exist only in memory: the type-aware rules type-check them on their own. */
const PLANTED = ['manager', 'agent', 'shared', 'manager/raft/core'].map((d) => `${d}/planted.ts`);
const eslint = new ESLint({
  cwd: root,
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: PLANTED } } },
  },
});

/** The rule ids lint reports for `code` as if it were the file at `path` (relative to the root). */
async function violations(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

const restricted = (found: string[], rule: string): boolean =>
  found.some((f) => f.startsWith(`${rule}:`));

test('a manager file importing from agent/ fails lint', async () => {
  const found = await violations(
    'manager/planted.ts',
    "import { Agent } from '../agent/agent.js';\nexport const a = Agent;\n",
  );
  assert.ok(restricted(found, 'no-restricted-imports'), found.join('\n'));
});

test('an agent file importing from manager/ fails lint', async () => {
  const found = await violations(
    'agent/planted.ts',
    "import { Store } from '../manager/store/store.js';\nexport const s = Store;\n",
  );
  assert.ok(restricted(found, 'no-restricted-imports'), found.join('\n'));
});

test('a shared file importing from manager/ or agent/ fails lint', async () => {
  for (const from of ['../manager/store/store.js', '../agent/planner.js']) {
    const found = await violations('shared/planted.ts', `export * from '${from}';\n`);
    assert.ok(restricted(found, 'no-restricted-imports'), `${from}: ${found.join('\n')}`);
  }
});

test('the raft core may import neither I/O modules nor code outside itself, nor read time', async () => {
  const planted = [
    "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n",
    "import mqtt from 'mqtt';\nexport const m = mqtt;\n",
    "import { Store } from '../../store/store.js';\nexport const s = Store;\n",
  ];
  for (const code of planted) {
    const found = await violations('manager/raft/core/planted.ts', code);
    assert.ok(restricted(found, 'no-restricted-imports'), `${code}: ${found.join('\n')}`);
  }
  const timers = await violations(
    'manager/raft/core/planted.ts',
    'export const t = (): number => Date.now();\nsetTimeout(() => undefined, 1);\n',
  );
  assert.ok(restricted(timers, 'no-restricted-properties'), timers.join('\n'));
  assert.ok(restricted(timers, 'no-restricted-globals'), timers.join('\n'));
});

test('the raft core importing its own files and a manager file importing shared/ pass', async () => {
  const core = await violations(
    'manager/raft/core/planted.ts',
    "import { RaftCore } from './core.js';\nexport const c = RaftCore;\n",
  );
  assert.deepEqual(core, []);
  const manager = await violations(
    'manager/planted.ts',
    "import { systemClock } from '../shared/clock.js';\nexport const c = systemClock;\n",
  );
  assert.deepEqual(manager, []);
});

test('a floating promise fails lint outside tests too', async () => {
  const found = await violations(
    'agent/planted.ts',
    'async function f(): Promise<void> {}\nexport function g(): void {\n  f();\n}\n',
  );
  assert.ok(restricted(found, '@typescript-eslint/no-floating-promises'), found.join('\n'));
});
