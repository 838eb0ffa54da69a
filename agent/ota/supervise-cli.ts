// `fleet-agent agent start --supervise`: the supervisor as a program (the mode systemd's unit starts).
import { promises as fs, realpathSync } from 'node:fs';
import path from 'node:path';
import { systemClock } from '../../shared/clock.js';
import { identitySchema } from '../../shared/identity.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { FLEET_VERSION } from '../../shared/version.js';
import { Supervisor, type SupervisorPoint } from './supervisor.js';

/**
 * `POINT` or `POINT:N`: the supervisor stops itself (SIGSTOP) the N-th time (default 1st) it
 * reaches that step of a switch, so that one can look at the board frozen there, or kill it
 * there to see a power cut at that instant. SIGCONT lets it go on unchanged.
 */
export const PAUSE_AT_ENV = 'FLEET_OTA_PAUSE_AT';

/** Runs the supervisor until SIGTERM or SIGINT; resolves with the exit code of the last agent. */
export async function superviseAgent(o: { dataDir: string; monitorMs: number }): Promise<number> {
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which file this program runs from');
  const logger = createLogger('supervisor');
  const pauseAt = parsePauseAt(process.env[PAUSE_AT_ENV]);
  const supervisor = new Supervisor({
    dataDir: o.dataDir,
    factory: { bundle: realpathSync(script), version: FLEET_VERSION },
    args: withoutSupervise(process.argv.slice(2)),
    nodeFlags: process.execArgv,
    monitorMs: o.monitorMs,
    clock: systemClock,
    logger,
    rootPub: () => readRootPub(o.dataDir),
    ...(pauseAt ? { at: pauser(pauseAt, logger) } : {}),
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => supervisor.stop(signal));
  return supervisor.run();
}

type PauseAt = { point: SupervisorPoint; nth: number };

const POINTS: readonly SupervisorPoint[] = [
  'state-written',
  'state-renamed',
  'switch-decided',
  'old-stopped',
  'trial-started',
  'trial-spawned',
  'healthy-received',
  'committed',
];

/** The step named by FLEET_OTA_PAUSE_AT; a value that names none is an error, not ignored. */
export function parsePauseAt(text: string | undefined): PauseAt | undefined {
  if (text === undefined || text === '') return undefined;
  const [point = '', nth = '1', ...rest] = text.split(':');
  const found = POINTS.find((p) => p === point);
  const n = Number(nth);
  if (!found || rest.length > 0 || !Number.isInteger(n) || n < 1)
    throw new Error(
      `${PAUSE_AT_ENV} must be STEP or STEP:N (N from 1), STEP one of ${POINTS.join(', ')}; got "${text}"`,
    );
  return { point: found, nth: n };
}

/** Stops this process where asked; the log line is written (synchronously) before it stops. */
function pauser(p: PauseAt, logger: Logger) {
  let seen = 0;
  return (point: SupervisorPoint): void => {
    if (point !== p.point || ++seen !== p.nth) return;
    logger.warn('paused at a step of the switch', { step: point, nth: seen, pid: process.pid });
    process.kill(process.pid, 'SIGSTOP');
  };
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
