// `fleet manager start`: runs a manager (broker, store, controllers) until interrupted.
import type { Argv } from 'yargs';
import { waitForShutdownSignal } from '../../shared/signals.js';
import { parseDuration } from '../../shared/spec.js';
import { UsageError, defineCommand } from './options.js';

export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`--${flag} must be HOST:PORT, got "${text}"`);
  }
  return { host: m[1], port };
}

/** Durations as parseDuration reads them, plus days (`90d`), the natural unit for certificates. */
function parseCertExpiry(text: string): number | null {
  const days = /^(\d+)d$/.exec(text.trim());
  if (days?.[1]) return Number(days[1]) * 24 * 3600_000;
  return parseDuration(text);
}

export const managerCommand = defineCommand({
  command: 'manager <action>',
  describe: 'run a manager',
  builder: (y: Argv) =>
    y
      .positional('action', {
        choices: ['start'] as const,
        describe: 'what to do',
        demandOption: true,
      })
      .option('data-dir', {
        type: 'string',
        default: './fleet-data/manager',
        describe: 'where the manager keeps its state',
      })
      .option('listen', {
        type: 'string',
        default: '127.0.0.1:4883',
        describe: 'HOST:PORT for the MQTT listener',
      })
      .option('heartbeat', {
        type: 'string',
        describe: 'heartbeat period agents use (e.g. 2s); defaults to the cluster setting',
      })
      .option('insecure', {
        type: 'boolean',
        default: false,
        describe: 'listen with plain TCP instead of TLS (development only: traffic is readable)',
      })
      .option('cert-expiry', {
        type: 'string',
        hidden: true,
        describe: 'lifetime of the node certificates this manager issues (default 90d)',
      }),
  handler: async (argv) => {
    const listen = parseHostPort(argv.listen, 'listen');
    let heartbeatMs: number | undefined;
    if (argv.heartbeat !== undefined) {
      const ms = parseDuration(argv.heartbeat);
      if (ms === null || ms < 100)
        throw new UsageError(
          `--heartbeat must be a duration of at least 100ms, got "${argv.heartbeat}"`,
        );
      heartbeatMs = ms;
    }
    let certLifetimeMs: number | undefined;
    if (argv['cert-expiry'] !== undefined) {
      const ms = parseCertExpiry(argv['cert-expiry']);
      if (ms === null || ms < 10_000)
        throw new UsageError(
          `--cert-expiry must be a duration of at least 10s (e.g. 90d), got "${argv['cert-expiry']}"`,
        );
      certLifetimeMs = ms;
    }
    const { Manager } = await import('../manager.js');
    const manager = await Manager.start({
      dataDir: argv['data-dir'],
      host: listen.host,
      port: listen.port,
      heartbeatMs,
      insecure: argv.insecure,
      certLifetimeMs,
    });
    const r = manager.report;
    const out = process.stdout;
    if (r.insecure)
      out.write(
        'WARNING: --insecure: the manager listens with plain TCP; join tokens, credentials and all traffic cross the network unencrypted and clients cannot check who they talk to. Use it for development only.\n',
      );
    out.write(
      `${r.created ? 'Created a new fleet' : 'Resumed the fleet'}; manager ${manager.id} listening on ${r.address}\n`,
    );
    out.write(`Worker join token:  ${r.workerToken}\n`);
    out.write(`Manager join token: ${r.managerToken}\n`);
    out.write(`Admin identity:     ${r.adminIdentity}\n`);
    out.write(
      `Point the CLI at it: export FLEET_HOST=${r.address} FLEET_IDENTITY=${r.adminIdentity}\n`,
    );
    await waitForShutdownSignal();
    out.write('stopping manager\n');
    await manager.stop();
  },
});
