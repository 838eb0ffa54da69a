// `fleet node upgrade`: roll an agent release out to the nodes a few at a time, follow it, show it, resume it or roll it back.
import type { Argv } from 'yargs';
import type { UpgradeResults } from '../../shared/api.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import { FleetError } from '../../shared/errors.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import { defineCommand } from './command.js';
import { withClient, withConnection } from './connection.js';
import { printJson, ProgressPrinter } from './format.js';
import { renderRollout, rolloutLines } from './format/rollout.js';
import { waveOptions, type PhaseFlags } from './flags/rollout.js';
import { countOption, durationFlag, repeatable } from './flags/values.js';
import type { RpcClient } from './rpc-client.js';
import { invalid } from './usage.js';

const WAVE: PhaseFlags = {
  failureActions: ['pause', 'rollback', 'continue'],
  parallelism: 'workers upgraded at once, 0 = all at once (managers: one at a time) [default: 1]',
  delay: 'wait after each node before the next, e.g. 30s [default: 0s]',
  monitor: 'how long a node must report the release and stay ready [default: 60s]',
  failureAction: 'when too many nodes fail: pause|rollback|continue [default: pause]',
  maxFailureRatio: 'share of failed nodes tolerated, 0 to 1 [default: 0]',
};

const POLL_MS = 500;

interface WaveFlags {
  parallelism?: number;
  delay?: number;
  monitor?: number;
  failureAction?: 'pause' | 'rollback' | 'continue';
  maxFailureRatio?: number;
}

const withUpgradeOptions = <T>(y: Argv<T>): Argv<T & WaveFlags> => {
  for (const [name, option] of waveOptions((n) => n, WAVE)) y.option(name, option);
  return y as Argv<T & WaveFlags>;
};

export const upgrade = defineCommand({
  command: 'upgrade [node..]',
  describe: 'Upgrade the agents of nodes to a stored agent release, a few at a time, managers last',
  builder: (y) =>
    withUpgradeOptions(withConnection(y.version(false)))
      .positional('node', { type: 'string', array: true, describe: 'node names or ids' })
      .option('version', {
        type: 'string',
        requiresArg: true,
        describe: 'the release [default: the newest stored]',
      })
      .option('all', { type: 'boolean', default: false, describe: 'every node that runs an agent' })
      .option('filter', {
        ...repeatable,
        describe: 'the nodes with a label: label=KEY=VALUE, repeatable',
        coerce: (v: string[]) => labelFilter(v),
      })
      .option('canary', countOption('canary', 'upgrade N nodes first, then wait for --resume'))
      .option('download-timeout', {
        type: 'string',
        describe:
          'time to download and switch, before the monitor period, until a node fails [default: 10m]',
        coerce: (v: string) => durationFlag('download-timeout', v),
      })
      .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'return at once' })
      .option('timeout', {
        type: 'string',
        default: '2h',
        describe: 'how long to follow the rollout',
        coerce: (v: string) => durationFlag('timeout', v),
      })
      .option('status', { type: 'boolean', default: false, describe: 'show the newest rollout' })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'with --status: as JSON, every rollout',
      })
      .option('resume', {
        type: 'boolean',
        default: false,
        describe: 'go on with a paused rollout',
      })
      .option('rollback', {
        type: 'boolean',
        default: false,
        describe: 'send the nodes of the newest rollout back to the releases they ran',
      })
      .example('$0 node upgrade --all', 'every node to the newest release, one at a time')
      .example('$0 node upgrade --filter label=site=garage --version 0.2.0 --parallelism 3', '')
      .example('$0 node upgrade --status', 'where the newest rollout stands'),
  handler: async (argv) => {
    await withClient(argv, async (c) => {
      if (argv.status) return showStatus(c, argv.json);
      let rollout: RolloutRecord;
      if (argv.resume) rollout = await c.call('upgrade.resume', {});
      else if (argv.rollback) rollout = await c.call('upgrade.rollback', {});
      else
        rollout = await c.call('upgrade.create', {
          ...(argv.version ? { version: argv.version } : {}),
          nodes: (argv.node ?? []).map(String),
          all: argv.all,
          labels: argv.filter,
          parallelism: argv.parallelism === 0 ? 10_000 : argv.parallelism,
          delayMs: argv.delay,
          monitorMs: argv.monitor,
          downloadMs: argv.downloadTimeout,
          failureAction: argv.failureAction,
          maxFailureRatio: argv.maxFailureRatio,
          canary: argv.canary,
        });
      process.stdout.write(`${rollout.id}\n`);
      const expect = argv.rollback ? 'rollback' : 'upgrade';
      if (!argv.detach) await followRollout(c, rollout.id, { timeoutMs: argv.timeout, expect });
    });
  },
});

async function showStatus(c: RpcClient, json: boolean): Promise<void> {
  const all: UpgradeResults['upgrade.ls'] = await c.call('upgrade.ls', {});
  if (json) return printJson(all);
  const r = all[0];
  if (!r) throw new FleetError('not_found', 'no agent upgrade was started');
  process.stdout.write(renderRollout(r));
}

/** --filter label=KEY=VALUE, repeatable: the labels every chosen node must carry. */
function labelFilter(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const m = /^label=([^=]+)=(.*)$/.exec(v);
    if (!m?.[1] || m[2] === undefined) throw invalid('filter', v, 'label=KEY=VALUE');
    out[m[1]] = m[2];
  }
  return out;
}

/**
 * Polls the rollout, printing its progress, until it completes (returns), or pauses or rolls
 * back when an upgrade was asked for (throws with its message), or the time runs out.
 */
export async function followRollout(
  c: RpcClient,
  id: string,
  opts: {
    timeoutMs: number;
    /** What was asked: a rollback that ends rolled back is its success. */
    expect: 'upgrade' | 'rollback';
    clock?: Clock;
    out?: NodeJS.WritableStream & { isTTY?: boolean };
  },
): Promise<void> {
  const { clock = systemClock, out = process.stdout } = opts;
  const printer = new ProgressPrinter(out);
  const deadline = clock.now() + opts.timeoutMs;
  for (;;) {
    const r = (await c.call('upgrade.ls', {})).find((x) => x.id === id);
    if (!r) throw new FleetError('not_found', `agent upgrade ${id} is gone`);
    printer.update(rolloutLines(r));
    if (r.state === 'completed' || (r.state === 'rolled back' && opts.expect === 'rollback')) {
      out.write(`${r.message}\n`);
      return;
    }
    if (r.state === 'rolled back' || r.state === 'paused' || r.state === 'rollback paused')
      throw new FleetError('conflict', r.message);
    if (clock.now() >= deadline)
      throw new FleetError(
        'unavailable',
        `agent upgrade still ${r.state} after the timeout: ${r.message}`,
      );
    await clock.sleep(POLL_MS);
  }
}
