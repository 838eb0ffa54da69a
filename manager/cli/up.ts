// `fleet up`: a whole local cluster (one manager, N agents on 127.0.0.2 …) in the foreground.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, promises as fs, realpathSync } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { defineCommand } from './command.js';
import { UsageError } from './usage.js';
import { waitForShutdownSignal } from '../../shared/signals.js';
import { DockerHostError, resolveDockerHost, type DockerHost } from '../../shared/docker-host.js';

export const upCommand = defineCommand({
  command: 'up',
  describe: 'start a local cluster: one manager and N agents on loopback addresses',
  builder: (y: Argv) =>
    y
      .option('agents', { type: 'number', default: 3, describe: 'how many agents' })
      .option('data-dir', {
        type: 'string',
        default: './fleet-data',
        describe: 'where the cluster keeps its state and logs',
      })
      .option('port', { type: 'number', default: 4883, describe: 'manager port on 127.0.0.1' })
      .option('runtime', {
        choices: ['auto', 'docker', 'process'] as const,
        default: 'auto' as const,
        describe: 'task runtime',
      })
      .option('insecure', {
        type: 'boolean',
        default: false,
        describe: 'plain TCP between the processes instead of TLS (development only)',
      })
      .option('docker-host', {
        type: 'string',
        describe:
          "the Docker engine the agents use, as the agent's --docker-host takes it (default: DOCKER_HOST, else the local socket)",
      })
      .option('dashboard-port', {
        type: 'number',
        describe: 'serve the web dashboard at https://127.0.0.1:PORT/ (e.g. 8443)',
      })
      .option('allow-chaos', {
        type: 'boolean',
        default: false,
        describe: 'the manager and the agents carry out fault orders (fleet soak)',
      })
      .option('context', {
        type: 'string',
        default: 'local',
        describe: 'save the cluster as this context and make it current ("" to skip)',
      }),
  handler: async (argv) => {
    if (!Number.isInteger(argv.agents) || argv.agents < 0 || argv.agents > 200)
      throw new UsageError('--agents must be a whole number from 0 to 200');
    const dir = path.resolve(argv['data-dir']);
    await fs.mkdir(path.join(dir, 'logs'), { recursive: true });
    const engine = upDockerHost(argv['docker-host']);
    const runtime = argv.runtime === 'auto' ? await pickRuntime(engine) : argv.runtime;
    const plan: ClusterPlan = {
      dir,
      address: `127.0.0.1:${argv.port}`,
      agents: argv.agents,
      runtime,
      // TLS unless asked otherwise: every process of the local cluster gets the same flag.
      insecure: argv.insecure ? ['--insecure'] : [],
      dockerHost: argv['docker-host'] !== undefined ? ['--docker-host', argv['docker-host']] : [],
      dashboard: dashboardArgs(argv['dashboard-port']),
      chaos: argv['allow-chaos'] ? ['--allow-chaos'] : [],
    };
    const cluster = await startCluster(plan);
    const identity = path.join(dir, 'manager', 'admin-identity.json');
    if (argv.context) {
      const { saveContext } = await import('./contexts.js');
      const insecure = plan.insecure.length > 0 ? { insecure: true } : {};
      const context = { host: plan.address, identity, ...insecure, description: 'fleet up' };
      await saveContext(argv.context, context, { use: true });
    }
    printWelcome(plan, identity, argv.context);
    await waitForShutdownSignal();
    await cluster.stop();
  },
});

/** What `fleet up` starts: where, on which address, how many agents, with which runtime. */
interface ClusterPlan {
  dir: string;
  address: string;
  agents: number;
  runtime: 'docker' | 'process';
  /** ['--insecure'] or nothing, passed to every process. */
  insecure: string[];
  /** ['--docker-host', value] or nothing (the agents then read DOCKER_HOST), passed to every agent. */
  dockerHost: string[];
  /** ['--dashboard-addr', 127.0.0.1:PORT] or nothing, passed to the manager. */
  dashboard: string[];
  /** ['--allow-chaos'] or nothing, passed to every process. */
  chaos: string[];
}

function dashboardArgs(port: number | undefined): string[] {
  if (port === undefined) return [];
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError('--dashboard-port must be a port number from 1 to 65535');
  return ['--dashboard-addr', `127.0.0.1:${port}`];
}

interface Child {
  name: string;
  proc: ChildProcess;
}

/** Starts the manager, reads its worker token, then starts the agents with it. */
async function startCluster(plan: ClusterPlan): Promise<{ stop: () => Promise<void> }> {
  const { dir, address, insecure } = plan;
  const manager = runFleet(
    [
      'manager',
      'start',
      '--data-dir',
      path.join(dir, 'manager'),
      '--listen',
      address,
      // The N agents are the workers asked for; the manager on 127.0.0.1 stays a pure manager.
      '--no-worker',
      ...insecure,
      ...plan.dashboard,
      ...plan.chaos,
    ],
    path.join(dir, 'logs', 'manager.log'),
  );
  let token: string;
  try {
    token = await readToken(manager);
  } catch (e) {
    await stopChild(manager);
    throw new Error(
      `the manager did not start: ${e instanceof Error ? e.message : String(e)} (see ${path.join(dir, 'logs', 'manager.log')})`,
    );
  }
  const children: Child[] = [{ name: 'manager', proc: manager }, ...startAgents(plan, token)];
  let stopping = false;
  for (const c of children) {
    c.proc.on('exit', (code, signal) => {
      if (!stopping)
        process.stderr.write(
          `${c.name} exited (${signal ?? code}); see ${path.join(dir, 'logs', c.name + '.log')}\n`,
        );
    });
  }
  return {
    stop: async () => {
      stopping = true;
      process.stdout.write('stopping the agents and the manager...\n');
      await Promise.all(children.filter((c) => c.proc !== manager).map((c) => stopChild(c.proc)));
      await stopChild(manager);
      process.stdout.write('stopped\n');
    },
  };
}

function startAgents(plan: ClusterPlan, token: string): Child[] {
  const children: Child[] = [];
  for (let i = 1; i <= plan.agents; i++) {
    const name = `node-${i}`;
    const proc = runFleet(
      [
        'agent',
        'start',
        '--manager',
        plan.address,
        '--token',
        token,
        '--data-dir',
        path.join(plan.dir, name),
        '--advertise-addr',
        `127.0.0.${i + 1}`,
        '--name',
        name,
        '--runtime',
        plan.runtime,
        '--remove-tasks-on-stop',
        ...plan.insecure,
        ...plan.dockerHost,
        ...plan.chaos,
      ],
      path.join(plan.dir, 'logs', `${name}.log`),
    );
    children.push({ name, proc });
  }
  return children;
}

/** What is running, and the commands to try next in another terminal, as they can be typed. */
function printWelcome(plan: ClusterPlan, identity: string, context: string): void {
  const { dir, address, agents, runtime, insecure } = plan;
  const fleet = fleetInvocation();
  const out = process.stdout;
  out.write(
    `fleet is up: a manager on ${address} and ${agents} agent(s) on 127.0.0.2-127.0.0.${agents + 1}, runtime ${runtime}\n`,
  );
  if (runtime === 'process')
    out.write(
      'note: no Docker engine answered, so tasks run as plain processes (the image is ignored; give a command)\n',
    );
  const connect = context
    ? `Saved as context "${context}" and made current, so commands need no environment.\n`
    : `Connect with:\n  export FLEET_HOST=${address} FLEET_IDENTITY=${identity}${insecure.length > 0 ? ' FLEET_INSECURE=1' : ''}\n`;
  out.write(`\n${connect}In another terminal:\n  ${fleet} node ls\n`);
  out.write(
    runtime === 'docker'
      ? `  ${fleet} service create --name web --replicas 3 --publish 8080:80 nginx:alpine\n`
      : `  ${fleet} service create --name hello --replicas 3 busybox sh -c 'while true; do date; sleep 5; done'\n`,
  );
  const dash = plan.dashboard[1];
  if (dash) out.write(`\nDashboard: https://${dash}/ (sign in with: ${fleet} dashboard token)\n`);
  if (fleet !== 'fleet') out.write(`(run npm link once to type fleet instead of ${fleet})\n`);
  out.write(`\nLogs are in ${path.join(dir, 'logs')}. Press Ctrl-C to stop everything.\n`);
}

/** "fleet" when that command on PATH is this one, else this script's path as typed from here. */
export function fleetInvocation(
  script = process.argv[1] ?? 'bin/fleet.js',
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): string {
  const real = (p: string): string | null => {
    try {
      return realpathSync(p);
    } catch {
      return null;
    }
  };
  const self = real(script);
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter((d) => d)) {
    if (self && real(path.join(dir, 'fleet')) === self) return 'fleet';
  }
  const rel = path.relative(cwd, script);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return script;
  return `./${rel}`;
}

function runFleet(args: string[], logFile: string): ChildProcess {
  const script = process.argv[1] ?? 'bin/fleet.js';
  const log = createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  return proc;
}

function readToken(proc: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no join token printed within 20s')), 20_000);
    proc.stdout?.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const m = /Worker join token:\s+(\S+)/.exec(buf);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`manager exited with code ${code}`));
    });
  });
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The engine --docker-host or DOCKER_HOST names; a bad value is a usage error before anything starts. */
function upDockerHost(flag: string | undefined): DockerHost {
  try {
    return resolveDockerHost(flag);
  } catch (e) {
    if (e instanceof DockerHostError) throw new UsageError(e.message);
    throw e;
  }
}

async function pickRuntime(engine: DockerHost): Promise<'docker' | 'process'> {
  try {
    const { default: Docker } = await import('dockerode');
    const docker = new Docker({ ...engine.options });
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3000)),
    ]);
    return 'docker';
  } catch {
    return 'process';
  }
}
