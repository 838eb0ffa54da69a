// A test program that runs the real upgrade supervisor with a fake factory release, and can die at a named step.
import { systemClock } from '../../shared/clock.js';
import { createLogger } from '../../shared/log.js';
import { readRootPub } from '../../agent/ota/supervise-cli.js';
import { Supervisor, type SupervisorPoint } from '../../agent/ota/supervisor.js';

/** FLEET_OTA_TEST_CONFIG, set by test/helpers/ota-board.ts. */
interface EntryConfig {
  dataDir: string;
  factory: { bundle: string; version: string };
  monitorMs: number;
  /** Kill this process with SIGKILL at the n-th time the supervisor reaches this step. */
  crashAt?: { point: SupervisorPoint; nth: number };
}

const config = JSON.parse(process.env.FLEET_OTA_TEST_CONFIG ?? '{}') as EntryConfig;
const seen = new Map<string, number>();
const supervisor = new Supervisor({
  dataDir: config.dataDir,
  factory: config.factory,
  args: ['agent', 'start', '--data-dir', config.dataDir],
  nodeFlags: [],
  monitorMs: config.monitorMs,
  clock: systemClock,
  logger: createLogger('supervisor', { level: 'warn' }),
  rootPub: () => readRootPub(config.dataDir),
  stopGraceMs: 2_000,
  at: (point) => {
    const n = (seen.get(point) ?? 0) + 1;
    seen.set(point, n);
    if (config.crashAt?.point === point && config.crashAt.nth === n)
      process.kill(process.pid, 'SIGKILL');
  },
});
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.on(signal, () => supervisor.stop(signal));
process.exitCode = await supervisor.run();
