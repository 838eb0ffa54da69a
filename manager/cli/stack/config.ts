// `fleet stack config -c FILE`: prints the merged, interpolated Compose file a deploy would use, without a manager.
import { defineCommand } from '../command.js';
import { composeFileOption, ignoreUnsupportedOption, loadComposeFiles } from './files.js';

export const config = defineCommand({
  command: 'config',
  describe: 'Print the resolved Compose file (merged, interpolated) after checking it',
  builder: (y) =>
    y
      .option('compose-file', composeFileOption)
      .option('ignore-unsupported', ignoreUnsupportedOption)
      .option('stack', {
        type: 'string',
        default: 'stack',
        describe: 'the stack name the checks assume (it prefixes names)',
      }),
  handler: async (argv) => {
    const files = (argv.composeFile ?? []).map((f) => (f === '' ? '-' : f));
    const loaded = await loadComposeFiles(argv.stack, files, argv.ignoreUnsupported);
    for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(loaded.resolved.endsWith('\n') ? loaded.resolved : `${loaded.resolved}\n`);
  },
});
