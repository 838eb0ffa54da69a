// The agent's flags about upgrades: run as the supervisor of agent releases, and its monitor period.
import type { Argv } from 'yargs';
import { parseDuration } from '../shared/spec.js';

export const DEFAULT_UPGRADE_MONITOR = '60s';

/** Adds --supervise and --upgrade-monitor to an agent command. */
export function withOtaOptions<T>(y: Argv<T>) {
  return y
    .option('supervise', {
      type: 'boolean',
      default: false,
      describe:
        'run the agent under a small supervisor that switches to new agent releases, commits them once healthy and goes back when they fail (how the board service starts it)',
    })
    .option('upgrade-monitor', {
      type: 'string',
      default: DEFAULT_UPGRADE_MONITOR,
      describe:
        'with --supervise: how long a new release has to connect to a manager and reconcile before the board goes back to the previous one',
      coerce: (v: string) => {
        const ms = parseDuration(String(v));
        if (ms === null || ms <= 0)
          throw new Error(`--upgrade-monitor must be a duration such as 60s or 2m, got "${v}"`);
        return ms;
      },
    });
}
