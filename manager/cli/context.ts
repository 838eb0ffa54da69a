// `fleet context create|use|ls|rm|show`: named manager addresses and identities, so FLEET_HOST and FLEET_IDENTITY are optional.
import path from 'node:path';
import { commandGroup, defineCommand, listed } from './command.js';
import { listOptionsOf, withListOptions } from './flags/output.js';
import { UsageError } from './usage.js';

const nameArg = { type: 'string', demandOption: true, describe: 'context name' } as const;

async function contexts() {
  return import('./contexts.js');
}

const create = defineCommand({
  command: 'create <name>',
  describe: 'Save manager addresses and an identity file under a name',
  builder: (y) =>
    y
      .positional('name', nameArg)
      .option('host', {
        type: 'string',
        demandOption: true,
        describe: 'manager addresses HOST:PORT[,HOST:PORT...]',
      })
      .option('identity', { type: 'string', demandOption: true, describe: 'identity file' })
      .option('insecure', { type: 'boolean', default: false, describe: 'plain TCP (development)' })
      .option('description', { type: 'string', describe: 'a note shown by context ls' })
      .option('use', { type: 'boolean', default: false, describe: 'make it the current context' })
      .example('$0 context create rack --host pi-1:4883,pi-2:4883 --identity ./admin.json', ''),
  handler: async (argv) => {
    const { CONTEXT_NAME, saveContext } = await contexts();
    const { parseHosts } = await import('./connection.js');
    if (!CONTEXT_NAME.test(argv.name))
      throw new UsageError(
        `Invalid context name ${JSON.stringify(argv.name)} (letters, digits, ".", "_", "-")`,
      );
    const host = parseHosts(argv.host).join(',');
    await saveContext(
      argv.name,
      {
        host,
        identity: path.resolve(argv.identity),
        ...(argv.insecure ? { insecure: true } : {}),
        ...(argv.description ? { description: argv.description } : {}),
      },
      { use: argv.use },
    );
    process.stdout.write(`${argv.name}\n`);
  },
});

const use = defineCommand({
  command: 'use <name>',
  describe: 'Make a context the current one: later commands connect with it',
  builder: (y) => y.positional('name', nameArg),
  handler: async (argv) => {
    const { readContexts, writeContexts } = await contexts();
    const file = await readContexts();
    if (!file.contexts[argv.name]) throw new UsageError(`No context named ${argv.name}`);
    file.current = argv.name;
    await writeContexts(file);
    process.stdout.write(`${argv.name}\n`);
    if (process.env.FLEET_HOST || process.env.FLEET_IDENTITY)
      process.stderr.write('warning: FLEET_HOST or FLEET_IDENTITY is set and comes first\n');
  },
});

const ls = defineCommand({
  command: 'ls',
  aliases: ['list'],
  describe: 'List the contexts; the current one is marked *',
  builder: (y) => withListOptions(y),
  handler: async (argv) => {
    const { readContexts } = await contexts();
    const { prepareListing } = await import('./format/listing.js');
    const { contextListing } = await import('./format/context-listing.js');
    const prepared = prepareListing(contextListing, listOptionsOf(argv));
    const file = await readContexts();
    const items = Object.entries(file.contexts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, c]) => ({ name, current: name === file.current, ...c }));
    process.stdout.write(prepared.render(items));
  },
});

const rm = defineCommand({
  command: 'rm <name..>',
  aliases: ['remove'],
  describe: 'Remove contexts',
  builder: (y) =>
    y.positional('name', { ...nameArg, array: true }).option('force', {
      alias: 'f',
      type: 'boolean',
      default: false,
      describe: 'remove the current context too',
    }),
  handler: async (argv) => {
    const { readContexts, writeContexts } = await contexts();
    const file = await readContexts();
    for (const name of argv.name.map(String)) {
      if (!file.contexts[name]) throw new UsageError(`No context named ${name}`);
      if (file.current === name && !argv.force)
        throw new UsageError(`${name} is the current context: use another first, or pass --force`);
    }
    for (const name of argv.name.map(String)) {
      delete file.contexts[name];
      if (file.current === name) file.current = null;
      process.stdout.write(`${name}\n`);
    }
    await writeContexts(file);
  },
});

const show = defineCommand({
  command: 'show',
  describe: 'Print the name of the current context',
  handler: async () => {
    const { readContexts } = await contexts();
    const file = await readContexts();
    process.stdout.write(`${process.env.FLEET_CONTEXT || file.current || ''}\n`);
  },
});

export const contextCommand = commandGroup('context', 'Manage saved connections to fleets', [
  listed(create),
  listed(use),
  listed(ls),
  listed(rm),
  listed(show),
]);
