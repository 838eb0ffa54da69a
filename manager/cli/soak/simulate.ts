// `fleet soak --simulate N`: the simulated boards of a run, started as `fleet sim agents N` beside the soak and stopped after it.
import { spawn, type ChildProcess } from 'node:child_process';
import { systemClock } from '../../../shared/clock.js';
import type { ConnectionFlags } from '../connection.js';
import type { RpcClient } from '../rpc-client.js';
import { SIM_LABEL } from '../../../shared/sim.js';

export interface Simulator {
  stop(): Promise<void>;
}

/** Boards join at this rate; the wait for them all scales with their number. */
const JOIN_RATE = 50;

/** Starts N simulated boards with --allow-chaos and waits until they are all ready. */
export async function startSimulator(
  client: RpcClient,
  argv: ConnectionFlags,
  count: number,
  addressBase: string | undefined,
  log: (line: string) => void,
): Promise<Simulator> {
  const { token } = await client.call('jointoken.get', { role: 'worker', rotate: false });
  const entry = process.argv[1] ?? 'fleet';
  const args = [
    entry,
    'sim',
    'agents',
    String(count),
    '--token',
    token,
    '--prefix',
    'soak-sim',
    '--allow-chaos',
    '--quiet',
  ];
  for (const host of client.knownHosts) args.push('--manager', host);
  if (argv.insecure) args.push('--insecure');
  if (addressBase) args.push('--address-base', addressBase);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => void (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  log(`soak: starting ${count} simulated boards`);
  const deadline = systemClock.now() + 60_000 + (count / JOIN_RATE) * 2_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the simulator exited (${child.exitCode}): ${stderr.trim()}`);
    const nodes = await client.call('node.ls', {}).catch(() => []);
    const ready = nodes.filter(
      (n) => n.labels[SIM_LABEL] === 'true' && n.status === 'ready',
    ).length;
    if (ready >= count) break;
    if (systemClock.now() > deadline) {
      await stopChild(child, exited);
      throw new Error(
        `only ${ready} of ${count} simulated boards were ready in time: ${stderr.trim()}`,
      );
    }
    await systemClock.sleep(1_000);
  }
  log(`soak: ${count} simulated boards ready`);
  return { stop: () => stopChild(child, exited) };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}
