// Benchmark `cli`: wall time of fleet --help, node ls and service ps beside bare node and docker node ls on Swarm, medians of N interleaved runs.
import { spawnSync } from 'node:child_process';
import { FLEET, cliOk, startManager, stopProc } from '../helpers/cluster.js';
import { dockerAnswers, goalLine, printTable } from './lib.js';
import { leaveSwarm, setUpSwarm } from './swarm.js';

const RUNS = Number(process.env.FLEET_BENCH_CLI_RUNS ?? 15);

interface Subject {
  name: string;
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/** One wall-clock run in milliseconds; a failed run stops the benchmark, since its time means nothing. */
function timeOnce(s: Subject): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(s.cmd, s.args, { env: { ...process.env, ...s.env }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${s.name} failed (${r.status}): ${r.stderr.trim()}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

async function main(): Promise<void> {
  const m = await startManager({ host: '127.0.0.100' });
  const env = { FLEET_HOST: m.address, FLEET_IDENTITY: m.identity };
  let swarmCreated = false;
  try {
    await cliOk(m, [
      'service',
      'create',
      '--detach',
      '--name',
      'web',
      '--replicas',
      '0',
      'busybox',
    ]);
    const subjects: Subject[] = [
      { name: 'node -e 0', cmd: process.execPath, args: ['-e', '0'] },
      { name: 'fleet --help', cmd: process.execPath, args: [FLEET, '--help'] },
      { name: 'fleet node ls', cmd: process.execPath, args: [FLEET, 'node', 'ls'], env },
      {
        name: 'fleet service ps web',
        cmd: process.execPath,
        args: [FLEET, 'service', 'ps', 'web'],
        env,
      },
    ];
    if (await dockerAnswers()) {
      const swarm = await setUpSwarm({ reuse: true });
      if (swarm.ok) {
        swarmCreated = swarm.created;
        subjects.push({ name: 'docker node ls', cmd: 'docker', args: ['node', 'ls'] });
      } else console.log(`docker node ls skipped: ${swarm.why}`);
    } else console.log('docker node ls skipped: no Docker engine answers');
    for (const s of subjects) timeOnce(s); // warm the file cache once
    const times = new Map(subjects.map((s) => [s.name, [] as number[]]));
    // Interleaved, so a burst of load on the machine spreads over every subject alike.
    for (let i = 0; i < RUNS; i++) for (const s of subjects) times.get(s.name)?.push(timeOnce(s));
    report(times);
  } finally {
    if (swarmCreated) await leaveSwarm();
    await stopProc(m.proc);
  }
}

function report(times: Map<string, number[]>): void {
  const med = (name: string): number => median(times.get(name) ?? []);
  const node = med('node -e 0');
  const docker = times.has('docker node ls') ? med('docker node ls') : NaN;
  const rows = [['command', 'median ms', 'min ms', 'max ms', 'x node -e 0', 'x docker node ls']];
  for (const [name, xs] of times) {
    rows.push([
      name,
      med(name).toFixed(0),
      Math.min(...xs).toFixed(0),
      Math.max(...xs).toFixed(0),
      (med(name) / node).toFixed(2),
      Number.isNaN(docker) ? '-' : (med(name) / docker).toFixed(2),
    ]);
  }
  console.log(`cli: wall time of each command, median of ${RUNS} interleaved runs`);
  printTable(rows, 'lrrrrr');
  const help = med('fleet --help') / node;
  goalLine(`fleet --help <= 1.5x node -e 0 (is ${help.toFixed(2)}x)`, help <= 1.5);
  const ls = med('fleet node ls') / docker;
  goalLine(
    `fleet node ls <= 3x docker node ls (is ${Number.isNaN(ls) ? '-' : ls.toFixed(2)}x)`,
    Number.isNaN(ls) ? null : ls <= 3,
  );
}

await main();
