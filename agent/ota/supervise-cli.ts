// `fleet-agent agent start --supervise`: the supervisor as a program (the mode systemd's unit starts).
import { promises as fs, realpathSync } from 'node:fs';
import path from 'node:path';
import { systemClock } from '../../shared/clock.js';
import { identitySchema } from '../../shared/identity.js';
import { createLogger } from '../../shared/log.js';
import { FLEET_VERSION } from '../../shared/version.js';
import { Supervisor } from './supervisor.js';

/** Runs the supervisor until SIGTERM or SIGINT; resolves with the exit code of the last agent. */
export async function superviseAgent(o: { dataDir: string; monitorMs: number }): Promise<number> {
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which file this program runs from');
  const supervisor = new Supervisor({
    dataDir: o.dataDir,
    factory: { bundle: realpathSync(script), version: FLEET_VERSION },
    args: withoutSupervise(process.argv.slice(2)),
    nodeFlags: process.execArgv,
    monitorMs: o.monitorMs,
    clock: systemClock,
    logger: createLogger('supervisor'),
    rootPub: () => readRootPub(o.dataDir),
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => supervisor.stop(signal));
  return supervisor.run();
}

/** The agent's own command line: the same flags, without the one that made this a supervisor. */
export function withoutSupervise(args: string[]): string[] {
  return args.filter((a) => !/^--(no-)?supervise(=.*)?$/.test(a));
}

/** The cluster root key from the identity file in the data dir, once the board has joined. */
export async function readRootPub(dataDir: string): Promise<string | undefined> {
  try {
    const raw: unknown = JSON.parse(await fs.readFile(path.join(dataDir, 'identity.json'), 'utf8'));
    return identitySchema.parse(raw).rootPub;
  } catch {
    return undefined;
  }
}
