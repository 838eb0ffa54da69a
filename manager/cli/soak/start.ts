// From `fleet soak` flags to a run: the workload read, simulated boards started, the chaos port opened, the verdict printed.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { holdProcessOpen, systemClock } from '../../../shared/clock.js';
import { parseDuration } from '../../../shared/spec.js';
import { FLEET_VERSION } from '../../../shared/version.js';
import { withClient, type ConnectionFlags } from '../connection.js';
import { UsageError } from '../usage.js';
import { makeChaosPort } from './chaos-port.js';
import { runSoak } from './runner.js';
import { parseChaosList } from './schedule.js';
import { startSimulator } from './simulate.js';
import { DEFAULT_WORKLOAD, parseWorkload } from './workload.js';

export interface SoakFlags extends ConnectionFlags {
  duration: string;
  seed?: number | undefined;
  chaos: string;
  workload?: string | undefined;
  report?: string | undefined;
  simulate: number;
  'simulate-address-base'?: string | undefined;
  bound: string;
  gap: string;
  keep: boolean;
}

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms <= 0)
    throw new UsageError(
      `Invalid --${flag} ${JSON.stringify(text)}: a duration like 90s, 2m or 24h`,
    );
  return ms;
}

/** Runs the soak the flags describe; true when every invariant held. */
export async function soakFromFlags(argv: SoakFlags): Promise<boolean> {
  const chaos = parseChaosList(argv.chaos);
  if ('unknown' in chaos)
    throw new UsageError(`Unknown fault in --chaos: ${chaos.unknown.join(', ')}`);
  if (!Number.isInteger(argv.simulate) || argv.simulate < 0 || argv.simulate > 10_000)
    throw new UsageError('--simulate takes a number of boards from 0 to 10000');
  const workload = argv.workload
    ? parseWorkload(
        await fs.readFile(argv.workload, 'utf8').catch((e: unknown) => {
          throw new UsageError(
            `cannot read --workload ${argv.workload}: ${e instanceof Error ? e.message : String(e)}`,
          );
        }),
        argv.workload,
      )
    : DEFAULT_WORKLOAD;
  const clock = systemClock;
  const seed = argv.seed ?? Math.floor((clock.now() % 1e9) + Math.random() * 1e6);
  const stamp = new Date(clock.now()).toISOString().replace(/[:.]/g, '-');
  const reportDir = path.resolve(argv.report ?? `soak-${stamp}`);
  const release = holdProcessOpen();
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  try {
    return await withClient(argv, async (client) => {
      const port = await makeChaosPort(client, argv);
      const sim =
        argv.simulate > 0
          ? await startSimulator(client, argv, argv.simulate, argv['simulate-address-base'], log)
          : null;
      try {
        const summary = await runSoak(
          {
            durationMs: duration('duration', argv.duration),
            seed,
            kinds: chaos.kinds,
            workload,
            reportDir,
            boundMs: duration('bound', argv.bound),
            gapMs: duration('gap', argv.gap),
            simulate: argv.simulate,
            version: FLEET_VERSION,
            keep: argv.keep,
            clock,
            log,
          },
          client,
          port,
        );
        const broken = summary.invariants.filter((i) => !i.ok).map((i) => i.name);
        process.stdout.write(
          `${summary.passed ? 'PASSED' : `FAILED: ${broken.join(', ')}`} · ${summary.faults.length} faults · ${summary.actions.total} actions · report ${path.join(reportDir, 'report.html')} · seed ${seed}\n`,
        );
        for (const v of summary.violations)
          process.stdout.write(
            `  ${v.invariant} at ${(v.from / 1000).toFixed(1)} s: ${v.detail}\n`,
          );
        return summary.passed;
      } finally {
        await sim?.stop();
        await port.close();
      }
    });
  } finally {
    release();
  }
}
