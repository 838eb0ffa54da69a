// Runs the compiled test files (dist/test/**/*.test.js) with Node's built-in test runner; used by `npm test`.
// Unit and simulation files use no network addresses, so they run in parallel, one per core; the
// integration and end-to-end files share loopback addresses and one Docker engine, so they run one
// at a time after them, except files marked with OWN_LANE_MARK (below), which use loopback addresses
// of their own, no fixed port and no Docker engine, and run one at a time beside them. The board-image files (os: builds under qemu-user, boots under QEMU) use
// neither, and mostly one core, so they run one at a time beside the integration and end-to-end
// files. The last line adds up every phase.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = join(root, 'dist', 'test');
const SUITES = ['unit', 'integration', 'e2e', 'sim', 'os'];
/** Suites whose files may run side by side: no ports, no addresses, no engine. */
const PARALLEL_SUITES = new Set(['unit', 'sim']);
// One test file may take this long before the runner cancels it (it must not hang CI).
const FILE_TIMEOUT_MS = Number(process.env.FLEET_TEST_FILE_TIMEOUT_MS ?? 600_000);
// A board-image file builds a root file system under qemu-user and boots it under QEMU.
const OS_FILE_TIMEOUT_MS = Number(process.env.FLEET_TEST_OS_FILE_TIMEOUT_MS ?? 25 * 60_000);
// The whole run may take this long; past it every test process is killed.
const TOTAL_TIMEOUT_MS = Number(process.env.FLEET_TEST_TOTAL_TIMEOUT_MS ?? 60 * 60_000);
const PARALLEL = Math.max(2, Number(process.env.FLEET_TEST_PARALLEL ?? availableParallelism()));

const usage = `usage: node bin/run-tests.js [${SUITES.join('|')}] [FILTER...] [--node-test-flag...]
  FILTER     run only test files whose path contains it (e.g. store)
  --flag     passed to node --test (e.g. --test-name-pattern=restart)
  FLEET_TEST_PARALLEL=N  unit and sim files run N at a time (default: one per core)`;

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
const suiteOf = (f) => relative(testRoot, f).split(sep)[0] ?? '';
// A file saying this line uses only its own 127.0.N.0/24 range, ports it asks the kernel for, and no
// Docker engine: it cannot meet another file's addresses, so it may run beside them.
const OWN_LANE_MARK = '// test-lane: own-addresses';
const ownLane = (f) => readFileSync(f, 'utf8').includes(OWN_LANE_MARK);
const shared = files.filter((f) => ['integration', 'e2e'].includes(suiteOf(f)));
/** Steps run one after the other; the phases of a step run side by side. */
const steps = [
  [
    {
      name: 'unit and sim',
      concurrency: PARALLEL,
      files: files.filter((f) => PARALLEL_SUITES.has(suiteOf(f))),
    },
  ],
  [
    {
      name: 'integration and e2e',
      concurrency: 1,
      files: shared.filter((f) => !ownLane(f)),
    },
    {
      name: 'own addresses',
      concurrency: 1,
      files: shared.filter(ownLane),
    },
    {
      name: 'board image',
      concurrency: 1,
      timeoutMs: OS_FILE_TIMEOUT_MS,
      files: files.filter((f) => suiteOf(f) === 'os'),
    },
  ],
]
  .map((step) => step.filter((p) => p.files.length > 0))
  .filter((step) => step.length > 0);

// Stack traces then point at the TypeScript lines rather than the compiled ones.
const nodeOptions = [process.env.NODE_OPTIONS, '--enable-source-maps'].filter(Boolean).join(' ');
const totals = { pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
// The spec reporter's summary lines, e.g. "ℹ pass 12".
const SUMMARY = /^\u2139 (pass|fail|cancelled|skipped|todo) (\d+)$/;

/** The node --test processes running now. */
const running = new Set();
let timedOut = false;
let interrupted = false;

function killGroup(child, signal) {
  try {
    if (child?.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function killAll(signal) {
  for (const child of running) killGroup(child, signal);
}

/**
 * Runs one node --test process over a phase's files; resolves with its exit code. Output goes
 * out in whole lines; a phase beside another has its lines marked with its name.
 */
function runPhase(phase, marked) {
  const timeoutMs = phase.timeoutMs ?? FILE_TIMEOUT_MS;
  console.log(
    `run-tests: ${phase.files.length} ${phase.name} file(s), ${phase.concurrency} at a time ` +
      `(per-file timeout ${timeoutMs / 1000} s)`,
  );
  const nodeArgs = [
    '--test',
    `--test-concurrency=${phase.concurrency}`,
    '--test-reporter=spec',
    `--test-timeout=${timeoutMs}`,
    ...nodeFlags,
    ...phase.files.map((f) => relative(root, f)),
  ];
  return new Promise((done) => {
    // A process group of its own, so a timeout or Ctrl-C can stop the test files' children too.
    const child = spawn(process.execPath, nodeArgs, {
      cwd: root,
      stdio: ['inherit', 'pipe', 'inherit'],
      detached: true,
      env: { ...process.env, NODE_OPTIONS: nodeOptions },
    });
    running.add(child);
    let partial = '';
    const mark = marked ? `[${phase.name}] ` : '';
    child.stdout.on('data', (chunk) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        process.stdout.write(`${mark}${line}\n`);
        const m = SUMMARY.exec(line.trim());
        if (m) totals[m[1]] += Number(m[2]);
      }
    });
    child.on('error', (err) => fail(`could not start node --test: ${err.message}`));
    child.on('exit', (code, signal) => {
      // Clean up anything a test file left running in the group.
      if (partial) process.stdout.write(`${mark}${partial}\n`);
      killGroup(child, 'SIGKILL');
      running.delete(child);
      if (signal !== null) console.error(`run-tests: node --test was killed by ${signal}`);
      done(signal !== null ? 1 : (code ?? 1));
    });
  });
}

const watchdog = setTimeout(() => {
  timedOut = true;
  console.error(`run-tests: the whole run passed ${TOTAL_TIMEOUT_MS / 1000} s; stopping it`);
  killAll('SIGTERM');
  setTimeout(() => killAll('SIGKILL'), 10_000).unref();
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = true;
    killAll(signal);
    setTimeout(() => killAll('SIGKILL'), 5_000).unref();
  });
}

let failed = false;
for (const step of steps) {
  if (timedOut || interrupted) break;
  const codes = await Promise.all(step.map((phase, i) => runPhase(phase, i > 0)));
  if (codes.some((code) => code !== 0)) failed = true;
}
clearTimeout(watchdog);
const notRun = totals.cancelled > 0 ? `, ${totals.cancelled} cancelled` : '';
console.log(`\nrun-tests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
if (notRun) console.log(`run-tests:${notRun.slice(1)} (counted as a failure)`);
process.exit(failed || timedOut || interrupted || totals.cancelled > 0 ? 1 : 0);
