// Runs the compiled test files (dist/test/**/*.test.js) with Node's built-in test runner; used by `npm test`.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = join(root, 'dist', 'test');
const SUITES = ['unit', 'integration', 'e2e', 'sim'];
// One test file may take this long before the runner cancels it (it must not hang CI).
const FILE_TIMEOUT_MS = Number(process.env.FLEET_TEST_FILE_TIMEOUT_MS ?? 600_000);
// The whole run may take this long; past it every test process is killed.
const TOTAL_TIMEOUT_MS = Number(process.env.FLEET_TEST_TOTAL_TIMEOUT_MS ?? 60 * 60_000);

const usage = `usage: node bin/run-tests.js [${SUITES.join('|')}] [FILTER...] [--node-test-flag...]
  FILTER     run only test files whose path contains it (e.g. store)
  --flag     passed to node --test (e.g. --test-name-pattern=restart)`;

function fail(message) {
  console.error(`run-tests: ${message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  console.log(usage);
  process.exit(0);
}
let suite;
if (args[0] !== undefined && SUITES.includes(args[0])) suite = args.shift();
const nodeFlags = args.filter((a) => a.startsWith('-'));
const filters = args.filter((a) => !a.startsWith('-'));

function findTests(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) found.push(...findTests(path));
    else if (e.isFile() && e.name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const searchRoot = suite === undefined ? testRoot : join(testRoot, suite);
try {
  statSync(testRoot);
} catch {
  fail(`${relative(root, testRoot)}/ does not exist: build first (npm run build)`);
}
const files = findTests(searchRoot)
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort();
if (files.length === 0) {
  fail(
    `no test files (*.test.js) found under ${relative(root, searchRoot)}/` +
      (filters.length > 0 ? ` matching ${filters.join(', ')}` : ''),
  );
}
console.log(
  `run-tests: ${files.length} file(s) from ${relative(root, searchRoot)}/ ` +
    `(per-file timeout ${FILE_TIMEOUT_MS / 1000} s)`,
);

const nodeArgs = [
  '--test',
  '--test-concurrency=1',
  '--test-reporter=spec',
  `--test-timeout=${FILE_TIMEOUT_MS}`,
  ...nodeFlags,
  ...files.map((f) => relative(root, f)),
];
// Stack traces then point at the TypeScript lines rather than the compiled ones.
const nodeOptions = [process.env.NODE_OPTIONS, '--enable-source-maps'].filter(Boolean).join(' ');

// A process group of its own, so a timeout or Ctrl-C can stop the test files' children too.
const child = spawn(process.execPath, nodeArgs, {
  cwd: root,
  stdio: 'inherit',
  detached: true,
  env: { ...process.env, NODE_OPTIONS: nodeOptions },
});

function killGroup(signal) {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

let timedOut = false;
const watchdog = setTimeout(() => {
  timedOut = true;
  console.error(`run-tests: the whole run passed ${TOTAL_TIMEOUT_MS / 1000} s; stopping it`);
  killGroup('SIGTERM');
  setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killGroup(signal);
    setTimeout(() => killGroup('SIGKILL'), 5_000).unref();
  });
}

child.on('error', (err) => fail(`could not start node --test: ${err.message}`));
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  // Clean up anything a test file left running in the group.
  killGroup('SIGKILL');
  if (timedOut) process.exit(1);
  if (signal !== null) {
    console.error(`run-tests: node --test was killed by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
