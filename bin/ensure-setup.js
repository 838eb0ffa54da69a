// Makes a checkout ready to run: installs packages when needed, builds TypeScript, bundles the agent.
// Runs before `npm start` and `npm test`, so it may use nothing but Node.js itself.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const buildInfo = join(dist, '.tsbuildinfo');
// Folders tsc compiles into dist/ (see "include" in tsconfig.json).
const SOURCE_DIRS = ['shared', 'manager', 'agent', 'firmware-images', 'test', 'bin'];

function fail(message) {
  console.error(`ensure-setup: ${message}`);
  process.exit(1);
}

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Runs a command with this terminal; returns its wall time in ms, or fails with one line. */
function run(what, cmd, args) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.error) fail(`${what} could not start (${cmd}): ${r.error.message}`);
  if (r.status !== 0) {
    fail(
      `${what} failed (${r.status === null ? `killed by ${r.signal}` : `exit code ${r.status}`})`,
    );
  }
  return Date.now() - started;
}

/** Yields every file under dir (relative to root), skipping nothing but missing folders. */
function* walk(dir) {
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) yield* walk(rel);
    else if (e.isFile()) yield rel;
  }
}

const TS_TO_JS = [
  [/\.d\.(m|c)?ts$/, null],
  [/\.mts$/, '.mjs'],
  [/\.cts$/, '.cjs'],
  [/\.ts$/, '.js'],
];

/** The dist/ file tsc writes for a source file, or null when it writes none. */
function outputFor(source) {
  for (const [pattern, ext] of TS_TO_JS) {
    if (pattern.test(source)) return ext === null ? null : source.replace(pattern, ext);
  }
  return null;
}

// 1. Packages.
const lock = join(root, 'package-lock.json');
const hasLock = existsSync(lock);
const manifestTime = mtimeMs(hasLock ? lock : join(root, 'package.json'));
// npm rewrites node_modules/.package-lock.json on every install, so its time is the install's.
const installedTime =
  mtimeMs(join(root, 'node_modules', '.package-lock.json')) ?? mtimeMs(join(root, 'node_modules'));
if (installedTime === undefined || (manifestTime !== undefined && installedTime < manifestTime)) {
  const verb = hasLock ? 'ci' : 'install';
  console.log(
    `ensure-setup: node_modules ${installedTime === undefined ? 'missing' : 'out of date'}; running npm ${verb}`,
  );
  const ms = run(`npm ${verb}`, 'npm', [verb, '--no-audit', '--no-fund']);
  console.log(`ensure-setup: npm ${verb} took ${(ms / 1000).toFixed(1)} s`);
}

// 2. TypeScript build (incremental, so a build with nothing changed is quick).
const sources = SOURCE_DIRS.flatMap((d) => [...walk(d)]);
const expected = new Set();
for (const s of sources) {
  const out = outputFor(s);
  if (out !== null) expected.add(out);
}
// Output whose source was deleted or renamed would otherwise live on (a stale test would still run).
let pruned = 0;
for (const d of SOURCE_DIRS) {
  for (const f of walk(join('dist', d))) {
    const js = relative('dist', f).replace(/\.map$/, '');
    if (/\.(m|c)?js$/.test(js) && !expected.has(js)) {
      rmSync(join(root, f));
      pruned++;
    }
  }
}
if (pruned > 0) console.log(`ensure-setup: removed ${pruned} stale file(s) from dist/`);
// tsc's incremental state does not notice output deleted by hand: rebuild everything if any is gone.
if ([...expected].some((js) => !existsSync(join(dist, js))) && existsSync(buildInfo)) {
  rmSync(buildInfo);
}
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) fail('typescript is not installed (node_modules/typescript/bin/tsc missing)');
const tscMs = run('build (tsc)', process.execPath, [tsc, '-p', 'tsconfig.json']);
console.log(`ensure-setup: build took ${(tscMs / 1000).toFixed(1)} s`);

// 3. The agent bundle a board runs.
if (existsSync(join(root, 'agent', 'main.ts'))) {
  run('agent bundle', process.execPath, [join(root, 'bin', 'bundle-agent.js')]);
}

// 4. The dashboard's page, which a manager started with --dashboard-addr serves.
if (existsSync(join(root, 'manager', 'dashboard', 'web', 'main.tsx'))) {
  run('dashboard bundle', process.execPath, [join(root, 'bin', 'bundle-dashboard.js')]);
}
