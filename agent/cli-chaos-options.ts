// The agent's flags about fault orders (fleet soak): whether it carries them out, and how it restarts its engine.
import type { Argv } from 'yargs';

/** Adds --allow-chaos and --chaos-engine-restart to an agent command. */
export function withChaosOptions<T>(y: Argv<T>) {
  return y
    .option('allow-chaos', {
      type: 'boolean',
      default: false,
      describe:
        'carry out fault orders signed by an admin (fleet soak): restarts, a cut link, a full disk, a skewed clock, lost messages; each ends by itself',
    })
    .option('chaos-engine-restart', {
      type: 'string',
      describe:
        'with --allow-chaos: the shell command that restarts the container engine (FLEET_CHAOS_DOWN_MS says how long it stays down)',
    });
}
