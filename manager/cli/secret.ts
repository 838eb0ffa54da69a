// `fleet secret|config create|ls|inspect|rm`: store values for services; secrets are never shown again.
import { readFile } from 'node:fs/promises';
import type { ConfigView } from '../../shared/api.js';
import { FleetError, errorMessage } from '../../shared/errors.js';
import { MAX_SECRET_BYTES } from '../../shared/sealing.js';
import { commandGroup, defineCommand, listed } from './command.js';
import { withClient, withConnection } from './connection.js';
import { labelOption } from './flags/env-labels.js';
import type { FileKind } from './flags/file-refs.js';
import { withFormat } from './flags/output.js';
import { listCommand } from './list-command.js';
import { printJson, relativeTime, shortId } from './format.js';
import { idMatches, labelMatches, type Listing } from './format/listing.js';

const fileListing: Listing<ConfigView> = {
  columns: [
    { header: 'ID', field: 'ID' },
    { header: 'NAME', field: 'Name' },
    { header: 'SIZE', field: 'Size' },
    { header: 'USED BY', field: 'UsedBy' },
    { header: 'CREATED', field: 'CreatedAt' },
  ],
  extraFields: ['Labels'],
  rows: (items, { noTrunc }) =>
    items.map((i) => ({
      ID: noTrunc ? i.id : shortId(i.id),
      Name: i.name,
      Size: `${i.size} B`,
      UsedBy: i.usedBy.join(','),
      CreatedAt: relativeTime(i.createdAt),
      Labels: i.labels,
    })),
  filters: {
    id: (i, v) => idMatches(i.id, v),
    name: (i, v) => i.name.startsWith(v),
    label: (i, v) => labelMatches(i.labels, v),
  },
};

export const secretCommand = fileCommand('secret');
export const configCommand = fileCommand('config');

function fileCommand(kind: FileKind) {
  return commandGroup(
    kind,
    kind === 'secret' ? 'Manage secrets (encrypted, delivered only where used)' : 'Manage configs',
    [
      listed(createCommand(kind)),
      listed(lsCommand(kind)),
      listed(inspectCommand(kind)),
      listed(rmCommand(kind)),
    ],
  );
}

function createCommand(kind: FileKind) {
  return defineCommand({
    command: 'create <name> <file>',
    describe: `Create a ${kind} from a file, or from standard input with "-"`,
    builder: (y) =>
      withConnection(y)
        .positional('name', { type: 'string', demandOption: true, describe: `${kind} name` })
        .positional('file', { type: 'string', demandOption: true, describe: 'file to read, or -' })
        .option('label', labelOption('label KEY=VALUE, repeatable'))
        .example(`$0 ${kind} create db-pass ./db-pass.txt`, '')
        .example(`printf %s "$PASS" | $0 ${kind} create db-pass -`, ''),
    handler: async (argv) => {
      // yargs hands a lone "-" positional over as an empty string.
      const value = await readValue(argv.file === '' ? '-' : argv.file);
      const data = value.toString('base64');
      value.fill(0);
      const created = await withClient(argv, (c) =>
        kind === 'secret'
          ? c.call('secret.create', { name: argv.name, data, labels: argv.label })
          : c.call('config.create', { name: argv.name, data, labels: argv.label }),
      );
      process.stdout.write(`${created.id}\n`);
    },
  });
}

function lsCommand(kind: FileKind) {
  return listCommand(
    `List ${kind}s`,
    (c) => (kind === 'secret' ? c.call('secret.ls', {}) : c.call('config.ls', {})),
    fileListing,
  );
}

function inspectCommand(kind: FileKind) {
  return defineCommand({
    command: 'inspect <name>',
    describe:
      kind === 'secret'
        ? "Show a secret's metadata as JSON (never its value)"
        : 'Show a config as JSON, its value base64 in "data"',
    builder: (y) =>
      withFormat(withConnection(y)).positional('name', { type: 'string', demandOption: true }),
    handler: async (argv) => {
      const view: ConfigView = await withClient(argv, (c) =>
        kind === 'secret'
          ? c.call('secret.inspect', { secret: argv.name })
          : c.call('config.inspect', { config: argv.name }),
      );
      printJson(view);
    },
  });
}

function rmCommand(kind: FileKind) {
  return defineCommand({
    command: 'rm <names..>',
    aliases: ['remove'],
    describe: `Remove one or more ${kind}s; refused while a service uses one`,
    builder: (y) =>
      withConnection(y).positional('names', { type: 'string', array: true, demandOption: true }),
    handler: async (argv) => {
      await withClient(argv, async (c) => {
        for (const name of argv.names) {
          if (kind === 'secret') await c.call('secret.rm', { secret: name });
          else await c.call('config.rm', { config: name });
          process.stdout.write(`${name}\n`);
        }
      });
    },
  });
}

async function readValue(file: string): Promise<Buffer> {
  let value: Buffer;
  try {
    value = file === '-' ? await readStdin() : await readFile(file);
  } catch (e) {
    throw new FleetError('invalid_argument', `cannot read ${file}: ${errorMessage(e)}`);
  }
  if (value.length > MAX_SECRET_BYTES)
    throw new FleetError('invalid_argument', `${file} is larger than ${MAX_SECRET_BYTES} bytes`);
  return value;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
