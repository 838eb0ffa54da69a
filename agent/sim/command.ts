// `fleet sim agents <count>`: the flags of the simulator of many boards in one process.
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_ADDRESS_BASE, simPlanOf, type SimArgs } from './flags.js';
import type { FindLocalCluster } from './run.js';

/** `sim agents`; `findLocal` asks the current context's cluster for its address and worker token. */
export function simAgentsCommand(findLocal: FindLocalCluster): CommandModule<object, SimArgs> {
  return {
    command: 'agents <count>',
    describe: 'Run <count> simulated boards (real agents on a fake engine) in this process',
    builder: (y: Argv) => simOptions(y),
    handler: async (argv) => {
      const r = simPlanOf(argv);
      if (!r.ok) throw new Error(r.error); // the check below already refused it
      const { runSim } = await import('./run.js');
      await runSim(r.plan, findLocal);
    },
  };
}

function simOptions(y: Argv) {
  return y
    .positional('count', { type: 'string', demandOption: true, describe: 'how many boards' })
    .option('manager', {
      type: 'string',
      array: true,
      describe: "manager address HOST:PORT (repeatable); default: the current context's",
    })
    .option('token', {
      type: 'string',
      describe: "worker join token; default: asked of the current context's cluster",
    })
    .option('prefix', { type: 'string', default: 'sim', describe: 'boards are <prefix>-0001 …' })
    .option('address', { type: 'string', describe: 'one loopback address every board advertises' })
    .option('address-base', {
      type: 'string',
      defaultDescription: DEFAULT_ADDRESS_BASE,
      describe: 'an address of their own each: board n gets .1 … .254 of the blocks from this one',
    })
    .option('label', {
      type: 'string',
      array: true,
      describe: 'node label k=v for every board (repeatable); fleet.sim=true is always added',
    })
    .option('join-rate', { type: 'number', default: 50, describe: 'boards started per second' })
    .option('data-dir', {
      type: 'string',
      describe: 'where the boards keep their identities (default: a new folder in /dev/shm)',
    })
    .option('keep', {
      type: 'boolean',
      default: false,
      describe: 'keep the data dir at exit, so the next run with it reuses the identities',
    })
    .option('allow-chaos', { type: 'boolean', default: false, describe: 'carry out fault orders' })
    .option('insecure', {
      type: 'boolean',
      default: false,
      describe: 'plain TCP to a manager started with --insecure (or FLEET_INSECURE=1)',
    })
    .option('ready-file', {
      type: 'string',
      describe: 'write a JSON line with the counts here once every board is connected',
    })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress lines' })
    .option('verbose', { type: 'boolean', default: false, describe: "the agents' info lines too" })
    .check((argv) => {
      const r = simPlanOf(argv);
      return r.ok ? true : r.error;
    });
}
