// Runs the compiled benchmark scripts (dist/test/bench/<name>.js) one after another; used by `npm run bench [name...]`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'dist', 'test', 'bench');
// All of them run by default: raft (about 75 s) and failover (6-9 min for 100 trials) need no
// Docker and guard the replicated managers, the part most likely to regress. converge and rollout
// need Docker and create (and leave) a swarm of their own to compare with.
const BENCHES = ['converge', 'rollout', 'control-plane', 'agent-rss', 'raft', 'failover'];
// Run only when named: ingress-forwarder and ingress need wrk and haproxy installed and saturate
// the CPU; ingress also needs Docker. cli times the command line (beside docker node ls when
// Docker answers; it joins a swarm that is active, or creates one and leaves it). stack deploys a
// 10-service stack with fleet, docker stack deploy and raw docker run, then times names across nodes.
// os-image builds a qemu-arm64 and an rpi4 board image (root, mmdebstrap, qemu-user; about 20 min)
// and boots the first under qemu-system-aarch64. image-dist sends one big image to 10 boards with
// their own Docker engines (root, docker-registry; a few minutes): fleet vs a registry behind the
// same uplink limit (FLEET_BENCH_IMAGE_MIB, FLEET_BENCH_NODES, FLEET_BENCH_LIMIT). ota upgrades 3
// real supervised agents and 500 simulated ones (FLEET_BENCH_OTA_SIMULATED) to a new agent release.
// observe-metrics: 500 simulated agents' usage summaries, the manager's CPU and bytes per agent.
// observe-logs follows one task's log with fleet service logs -f beside docker logs -f (Docker).
// observe-dashboard opens the dashboard of 1,000 simulated nodes in Chromium (Debian's chromium).
const OPTIONAL = [
  'idle-traffic',
  'ingress-forwarder',
  'ingress',
  'cli',
  'stack',
  'os-image',
  'image-dist',
  'ota',
  'observe-dashboard',
  'observe-metrics',
  'observe-logs',
];
// One benchmark may take this long before it is stopped (they are bounded, but never hang).
const BENCH_TIMEOUT_MS = Number(process.env.FLEET_BENCH_TIMEOUT_MS ?? 20 * 60_000);

const usage = `usage: node bin/run-bench.js [${[...BENCHES, ...OPTIONAL].join('|')}]...
  no name runs ${BENCHES.join(', ')} in that order; build first with npm run build`;

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  console.log(usage);
  process.exit(0);
}
const unknown = args.filter((a) => !BENCHES.includes(a) && !OPTIONAL.includes(a));
if (unknown.length > 0) {
  console.error(`run-bench: unknown benchmark ${unknown.join(', ')}\n${usage}`);
  process.exit(2);
}
const names = args.length > 0 ? args : BENCHES;
for (const name of names) {
  if (!existsSync(join(benchDir, `${name}.js`))) {
    console.error(
      `run-bench: dist/test/bench/${name}.js does not exist: build first (npm run build)`,
    );
    process.exit(1);
  }
}

/** Runs one benchmark in its own process group, so a timeout or Ctrl-C stops its children too. */
function runOne(name) {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--enable-source-maps', join(benchDir, `${name}.js`)], {
      cwd: root,
      stdio: 'inherit',
      detached: true,
    });
    const signalGroup = (signal) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const onSignal = (signal) => {
      // The benchmark cleans up (containers, swarm) on SIGINT/SIGTERM; give it time to.
      signalGroup(signal);
      setTimeout(() => signalGroup('SIGKILL'), 30_000).unref();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const timer = setTimeout(() => {
      console.error(`run-bench: ${name} passed ${BENCH_TIMEOUT_MS / 1000} s; stopping it`);
      onSignal('SIGTERM');
    }, BENCH_TIMEOUT_MS);
    child.on('error', (err) => {
      console.error(`run-bench: could not start ${name}: ${err.message}`);
      resolvePromise(1);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolvePromise(signal !== null ? 1 : (code ?? 1));
    });
  });
}

let failed = 0;
for (const name of names) {
  console.log(`\n=== bench ${name} ===`);
  if ((await runOne(name)) !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
