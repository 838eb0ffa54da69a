// Bundles the agent (agent/main.ts) into one dependency-free ESM file a board runs with plain Node.js.
import { build } from 'esbuild';
import { chmodSync, statSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const usage = `usage: node bin/bundle-agent.js [--entry agent/main.ts] [--out dist/fleet-agent.mjs] [--minify]
       [--release-version V]   the agent's version (default: package.json's)`;

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      entry: { type: 'string' },
      out: { type: 'string' },
      minify: { type: 'boolean' },
      'release-version': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (err) {
  console.error(`bundle-agent: ${err instanceof Error ? err.message : String(err)}\n${usage}`);
  process.exit(2);
}
if (options.help) {
  console.log(usage);
  process.exit(0);
}

const entry = resolve(repoRoot, options.entry ?? 'agent/main.ts');
const releaseVersion = options['release-version'] ?? packageVersion();
if (releaseVersion.length > 64 || !sourceSemver().test(releaseVersion)) {
  console.error(
    `bundle-agent: --release-version must be a version such as 1.2.3, got "${releaseVersion}"`,
  );
  process.exit(2);
}
const protocolVersion = sourceProtocolVersion();
const outfile = resolve(repoRoot, options.out ?? 'dist/fleet-agent.mjs');

/** Node flags a board runs the agent with (the bundle's shebang line); the RSS benchmark reads them. */
const BOARD_NODE_FLAGS = ['--max-semi-space-size=1', '--no-opt', '--no-sparkplug'];

// Packages that are optional native speed-ups of pure-JS code: their require() sits inside a
// try/catch in the requiring package, so replacing them with a module that throws keeps the
// pure-JS fallback and leaves nothing native in the bundle.
const OPTIONAL_NATIVE = ['cpu-features', 'bufferutil', 'utf-8-validate'];
// Packages that only work with a compiled addon: the agent must never depend on them.
const REQUIRED_NATIVE = ['better-sqlite3', 'bindings'];
// Packages our dependencies require at load time for features the agent never uses: ssh2 is
// docker-modem's ssh:// transport (and instantiates a 16 MB WebAssembly heap when loaded),
// @grpc/* and protobufjs are dockerode's BuildKit session, ws and socks are mqtt.js's websocket
// and proxy transports. The agent talks to dockerd on its unix socket and to managers over
// mqtt(s)://, so each becomes a stub that loads fine and throws only if something calls it.
// Together they were half of the bundle and a fifth of an idle agent's memory.
const UNUSED = ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'ws', 'socks'];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const packageFilter = (names) => new RegExp(`^(${names.map(escape).join('|')})(/.*)?$`);

/** @type {import('esbuild').Plugin} */
const nativeStubs = {
  name: 'fleet-native-stubs',
  setup(b) {
    b.onResolve({ filter: packageFilter(REQUIRED_NATIVE) }, (args) => ({
      errors: [
        {
          text: `"${args.path}" needs a native addon; the agent bundle must stay pure JavaScript`,
        },
      ],
    }));
    b.onResolve({ filter: packageFilter(OPTIONAL_NATIVE) }, (args) => ({
      path: args.path,
      namespace: 'fleet-native-stub',
    }));
    b.onResolve({ filter: packageFilter(UNUSED) }, (args) => ({
      path: args.path,
      namespace: 'fleet-unused-stub',
    }));
    b.onLoad({ filter: /.*/, namespace: 'fleet-unused-stub' }, (args) => ({
      contents: [
        `const unavailable = () => { throw new Error(${JSON.stringify(
          `"${args.path}" is not part of the agent bundle`,
        )}); };`,
        // Any property is a function that throws when called, so `require(x).Client` at load time works.
        "module.exports = new Proxy({}, { get: (_t, key) => (key === '__esModule' ? false : unavailable) });",
      ].join('\n'),
      loader: 'js',
    }));
    b.onResolve({ filter: /\.node$/ }, (args) => ({
      path: args.path,
      namespace: 'fleet-native-stub',
    }));
    b.onLoad({ filter: /.*/, namespace: 'fleet-native-stub' }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(
        `native module "${args.path}" is not part of the agent bundle`,
      )}), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

try {
  statSync(entry);
} catch {
  console.error(`bundle-agent: entry not found: ${entry}`);
  process.exit(1);
}

mkdirSync(dirname(outfile), { recursive: true });

const started = Date.now();
try {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // Whitespace minification always: it drops comments, and with them the only non-ASCII
    // characters, so V8 keeps the source as one byte per character instead of two. --minify
    // also shortens syntax and identifiers (smaller, but stack traces lose function names).
    minifyWhitespace: true,
    minifySyntax: options.minify === true,
    minifyIdentifiers: options.minify === true,
    charset: 'ascii',
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // Lets an entry outside the repository (a scratch file) still find the repository's packages.
    nodePaths: [resolve(repoRoot, 'node_modules')],
    // CommonJS dependencies use require, __filename and __dirname; an ES module has none of them.
    banner: {
      js: [
        // Run as ./fleet-agent.mjs, the bundle starts node with flags that trade a little CPU for
        // memory on small boards: a 1 MiB young generation and no optimizing compilers.
        `#!/usr/bin/env -S node ${BOARD_NODE_FLAGS.join(' ')}`,
        // What `fleet agent release push` reads (shared/ota/release-record.ts, BUNDLE_LINE_RE).
        `// fleet-agent ${releaseVersion} protocol ${protocolVersion}`,
        "import { createRequire as __fleetCreateRequire } from 'node:module';",
        'const require = __fleetCreateRequire(import.meta.url);',
        "import { fileURLToPath as __fleetFileURLToPath } from 'node:url';",
        "import { dirname as __fleetPathDirname } from 'node:path';",
        'const __fleetFilename = __fleetFileURLToPath(import.meta.url);',
        'const __fleetDirname = __fleetPathDirname(__fleetFilename);',
      ].join('\n'),
    },
    // CommonJS code reads the free __filename and __dirname; ESM code in the bundle (yargs) may
    // declare its own at top level, which a banner `const __dirname` would collide with.
    // The agent's version (shared/agent-version.ts) is the one its version line names.
    define: {
      __filename: '__fleetFilename',
      __dirname: '__fleetDirname',
      __FLEET_AGENT_VERSION__: JSON.stringify(releaseVersion),
    },
    plugins: [nativeStubs],
  });
  if (result.errors.length > 0) process.exit(1);
} catch (err) {
  // esbuild has already printed each error with its location; keep the summary to one line.
  const count = err && typeof err === 'object' && 'errors' in err ? err.errors.length : 0;
  console.error(
    count > 0
      ? `bundle-agent: ${count} error(s) while bundling ${relative(repoRoot, entry)}`
      : `bundle-agent: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
}

chmodSync(outfile, 0o755);
const bytes = statSync(outfile).size;
const shown = relative(process.cwd(), outfile);
console.log(
  `bundle-agent: ${shown.startsWith('..') ? outfile : shown} agent ${releaseVersion} ` +
    `${(bytes / 1024).toFixed(0)} KiB ` +
    `(${bytes} bytes) in ${Date.now() - started} ms`,
);

function packageVersion() {
  const pkg = JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8'));
  return String(pkg.version);
}

/**
 * The semantic version rule of shared/ota/release.ts (SEMVER), read from its source: a bundle
 * whose version the managers and boards would refuse is never made.
 */
function sourceSemver() {
  const source = readFileSync(resolve(repoRoot, 'shared/ota/release.ts'), 'utf8');
  const m = /^export const SEMVER =\s*\/(.+)\/;$/m.exec(source);
  if (!m?.[1]) {
    console.error('bundle-agent: no SEMVER in shared/ota/release.ts');
    process.exit(1);
  }
  return new RegExp(m[1]);
}

/** PROTOCOL_VERSION as shared/protocol-version.ts declares it: the bundle's line must say the same. */
function sourceProtocolVersion() {
  const source = readFileSync(resolve(repoRoot, 'shared/protocol-version.ts'), 'utf8');
  const m = /^export const PROTOCOL_VERSION = (\d+);$/m.exec(source);
  if (!m) {
    console.error('bundle-agent: no PROTOCOL_VERSION in shared/protocol-version.ts');
    process.exit(1);
  }
  return Number(m[1]);
}
