// A local rack for a long soak: 3 managers, 3 Docker boards on engines of their own, then `fleet soak --simulate 50 --chaos all` and a screenshot of its report.
// Run after a build: node dist/test/soak/rack.js [--duration 30m] [--simulate 50] [--seed N] [--out DIR]
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  FLEET,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { launchChromiumFor } from '../helpers/dashboard.js';
import { ENGINES_DIR, loadImage, startEngine, type Engine } from '../helpers/engines.js';
import { TEST_IMAGE, ensureTestImage } from '../helpers/docker.js';

const MANAGER_HOSTS = ['127.0.46.11', '127.0.46.12', '127.0.46.13'];
const BOARD_HOSTS = ['127.0.46.21', '127.0.46.22', '127.0.46.23'];

const run = promisify(execFile);

/** Each board's data dir is a small tmpfs of its own: fill-disk fills that, not the machine's disk. */
async function boardDataDir(name: string): Promise<string> {
  const dir = tempDir(`rack-${name}`);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0700', 'tmpfs', dir]);
  return dir;
}

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '30m' },
    simulate: { type: 'string', default: '50' },
    seed: { type: 'string', default: String(Math.floor(Math.random() * 1e6)) },
    chaos: { type: 'string', default: 'all' },
    out: { type: 'string', default: path.resolve('soak-rack') },
  },
});

/** A script the board's agent runs for restart-engine: the engine's own dockerd, stopped and started again. */
async function restartScript(engine: Engine): Promise<string> {
  const dir = path.join(ENGINES_DIR, engine.name);
  const file = path.join(dir, 'restart-engine.sh');
  const args = [
    `--config-file ${dir}/daemon.json`,
    `--data-root ${engine.dataRoot}`,
    `--exec-root ${engine.execRoot}`,
    `--pidfile ${dir}/docker.pid`,
    `-H ${engine.host}`,
    `--bridge ${engine.bridge}`,
    '--iptables=false --ip-masq=false',
  ].join(' ');
  await fs.writeFile(
    file,
    `#!/bin/sh
# Stops this engine's dockerd (its containers end with it) and starts it again after the fault's pause.
pid=$(cat ${dir}/docker.pid 2>/dev/null)
[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
sleep $(( \${FLEET_CHAOS_DOWN_MS:-3000} / 1000 ))
setsid nohup dockerd ${args} >> ${engine.log} 2>&1 < /dev/null &
`,
    { mode: 0o755 },
  );
  return file;
}

async function main(): Promise<void> {
  const out = path.resolve(flags.out);
  await fs.mkdir(out, { recursive: true });
  const managers: ManagerProc[] = [];
  const agents: AgentProc[] = [];
  const engines: Engine[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(agents.map((a) => stopProc(a.proc)));
    await Promise.all(managers.map((m) => stopProc(m.proc)));
    await Promise.all(engines.map((e) => e.stop().catch(() => undefined)));
    for (const a of agents) await run('umount', ['-l', a.dataDir]).catch(() => undefined);
  };
  process.on('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    for (const host of MANAGER_HOSTS)
      managers.push(
        await startManager({
          host,
          extraArgs: ['--allow-chaos'],
          ...(managers[0] ? { join: managers[0] } : {}),
        }),
      );
    const image = await ensureTestImage();
    for (const [i, address] of BOARD_HOSTS.entries()) {
      const engine = await startEngine(`soakrack${i + 1}`);
      engines.push(engine);
      await loadImage(engine, image);
      agents.push(
        startAgent({
          manager: managers.map((m) => m.address).join(','),
          token: managers[0]?.workerToken ?? '',
          name: `rack-${i + 1}`,
          dataDir: await boardDataDir(`rack-${i + 1}`),
          address,
          runtime: 'docker',
          dockerHost: engine.host,
          extraArgs: [
            '--allow-chaos',
            '--chaos-engine-restart',
            `sh ${await restartScript(engine)}`,
          ],
        }),
      );
    }
    await waitForNodes(managers[0] as ManagerProc, BOARD_HOSTS.length);
    const workload = path.join(tempDir('rack-workload'), 'workload.yml');
    await fs.writeFile(
      workload,
      `churn: { image: ${TEST_IMAGE}, min: 4, max: 40 }\nprobe: { image: ${TEST_IMAGE} }\n`,
    );
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          FLEET,
          'soak',
          '--host',
          managers.map((m) => m.address).join(','),
          '--identity',
          managers[0]?.identity ?? '',
          '--duration',
          flags.duration,
          '--simulate',
          flags.simulate,
          '--simulate-address-base',
          '127.46.0.0',
          '--chaos',
          flags.chaos,
          '--seed',
          flags.seed,
          '--workload',
          workload,
          '--report',
          out,
        ],
        { stdio: 'inherit' },
      );
      child.once('exit', (c) => resolve(c));
    });
    const browser = await launchChromiumFor();
    const page = await browser.newPage();
    await page.setViewport({ width: 860, height: 1200 });
    await page.goto(`file://${path.join(out, 'report.html')}`);
    await page.screenshot({ path: path.join(out, 'report.png'), fullPage: true });
    await browser.close();
    console.log(
      `rack soak exit ${code}; report ${path.join(out, 'report.html')}, screenshot ${path.join(out, 'report.png')}`,
    );
  } finally {
    await stop();
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
