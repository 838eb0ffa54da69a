// `fleet soak`: drives the cluster the CLI points at with a workload and a schedule of faults, checks its promises, writes a report.
import { defineCommand } from '../command.js';
import { withConnection } from '../connection.js';

export const soakCommand = defineCommand({
  command: 'soak',
  describe: 'Soak-test the fleet: workload, faults, invariants checked throughout, and a report',
  builder: (y) =>
    withConnection(y)
      .option('duration', {
        type: 'string',
        default: '30m',
        describe: 'how long faults and workload run (e.g. 2m, 24h)',
      })
      .option('seed', {
        type: 'number',
        describe: 'replays the same fault and workload schedule (default: random, printed)',
      })
      .option('chaos', {
        type: 'string',
        default: 'none',
        describe:
          'faults to inject, comma-separated: kill-agent, restart-agent, restart-engine, partition, fill-disk, skew-clock, drop, delay, duplicate, kill-manager, restart-manager, kill-leader, partition-manager; or all, or none',
      })
      .option('workload', {
        type: 'string',
        describe: 'YAML file: services and churn (see --print-workload)',
      })
      .option('report', {
        type: 'string',
        describe: 'folder for summary.json and report.html (default ./soak-<time>)',
      })
      .option('simulate', {
        type: 'number',
        default: 0,
        describe: 'also start N simulated boards (fleet sim agents) for the run',
      })
      .option('simulate-address-base', {
        type: 'string',
        describe:
          'first loopback address of the simulated boards (fleet sim agents --address-base)',
      })
      .option('bound', {
        type: 'string',
        default: '60s',
        describe: 'how long the cluster may take to be whole after a fault or action',
      })
      .option('gap', {
        type: 'string',
        default: '15s',
        describe: 'mean time between one fault ending and the next starting',
      })
      .option('keep', {
        type: 'boolean',
        default: false,
        describe: 'leave the workload services and writes in place at the end',
      })
      .option('print-workload', {
        type: 'boolean',
        default: false,
        describe: 'print the default workload file and exit',
      })
      .example(
        '$0 soak --duration 2m --simulate 50 --chaos kill-agent,restart-manager,partition',
        '',
      )
      .example('$0 soak --duration 24h --chaos all --report ./rack-soak', ''),
  handler: async (argv) => {
    const { WORKLOAD_EXAMPLE } = await import('./workload.js');
    if (argv['print-workload']) {
      process.stdout.write(WORKLOAD_EXAMPLE);
      return;
    }
    const { soakFromFlags } = await import('./start.js');
    const passed = await soakFromFlags(argv);
    if (!passed) process.exitCode = 1;
  },
});
