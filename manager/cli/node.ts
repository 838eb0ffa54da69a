// `fleet node ls|ps|inspect|update|rm|promote|demote|upgrade`: list, inspect, drain, label, remove and upgrade the boards; managers vote or not.
import { printJson } from './format.js';
import { commandGroup, defineCommand, listed } from './command.js';
import { nodeLogs } from './logs/node-logs.js';
import { withClient, withConnection } from './connection.js';
import { parseKeyValues } from './flags/env-labels.js';
import { listOptionsOf, withListOptions } from './flags/output.js';
import { prepareListing } from './format/listing.js';
import { nodeListing } from './format/node-listing.js';
import { renderNodePretty } from './format/node-pretty.js';
import { compileTemplate, execute } from './format/template.js';
import { taskListing } from './format/service-listing.js';
import { listCommand } from './list-command.js';
import { repeatable } from './flags/values.js';
import { upgrade } from './node-upgrade.js';
import { keepaliveSeconds } from './flags/keepalive.js';

const ls = listCommand('List the nodes of the fleet', (c) => c.call('node.ls', {}), nodeListing);

const ps = defineCommand({
  command: 'ps [node..]',
  describe: 'List the tasks on one or more nodes (every node when none is named)',
  builder: (y) =>
    withListOptions(withConnection(y))
      .positional('node', { type: 'string', array: true, describe: 'node names or ids' })
      .epilogue(
        `Filters: --filter KEY=VALUE, KEY one of ${Object.keys(taskListing.filters).join(', ')}`,
      ),
  handler: async (argv) => {
    const prepared = prepareListing(taskListing, listOptionsOf(argv));
    const nodes = (argv.node ?? []).map(String);
    const tasks = await withClient(argv, (c) => c.call('node.ps', { nodes }));
    process.stdout.write(prepared.render(tasks));
  },
});

/** The NODE every other node command acts on. */
const nodeArg = { type: 'string', demandOption: true, describe: 'node name or id' } as const;

const inspect = defineCommand({
  command: 'inspect <node>',
  describe: 'Show everything the manager knows about a node, as JSON or, with --pretty, for people',
  builder: (y) =>
    withConnection(y)
      .positional('node', nodeArg)
      .option('pretty', { type: 'boolean', default: false, describe: 'print it for people' })
      .option('format', {
        alias: 'f',
        type: 'string',
        default: 'json',
        describe: "json, or a template on the JSON's fields: '{{.Status}} {{.EngineVersion}}'",
      }),
  handler: async (argv) => {
    const node = await withClient(argv, (c) => c.call('node.inspect', { node: argv.node }));
    if (argv.pretty) process.stdout.write(renderNodePretty(node));
    else if (argv.format === 'json') printJson(node);
    else
      process.stdout.write(execute(compileTemplate(argv.format, Object.keys(node)), node) + '\n');
  },
});

const update = defineCommand({
  command: 'update <node>',
  describe: "Change a node's availability or labels",
  builder: (y) =>
    withConnection(y)
      .positional('node', nodeArg)
      .option('availability', {
        choices: ['active', 'pause', 'drain'] as const,
        describe: 'active: take tasks; pause: keep tasks, take no new ones; drain: move tasks away',
      })
      .option('label-add', {
        ...repeatable,
        describe: 'add or change a label (KEY=VALUE), repeatable',
        coerce: (v: string[]) => parseKeyValues('label-add', v),
      })
      .option('label-rm', { ...repeatable, describe: 'remove a label (KEY), repeatable' })
      .option('profile', {
        choices: ['default', 'metered', 'auto'] as const,
        describe:
          "link profile: metered sends almost nothing while idle and is found down slower; auto: the agent's own",
      })
      .option('keepalive', {
        type: 'string',
        describe: 'MQTT keepalive of a metered node (e.g. 5m; default 20m, 0 returns to it)',
        coerce: keepaliveSeconds,
      })
      .example('$0 node update pi-3 --availability drain', 'move every task off pi-3')
      .example('$0 node update pi-3 --profile metered', 'a board on a cellular plan')
      .example('$0 node update pi-3 --label-add zone=garage', 'label a node for constraints'),
  handler: async (argv) => {
    const { node, availability, labelAdd, labelRm, profile, keepalive: keepaliveS } = argv;
    const params = { node, availability, labelAdd, labelRm, profile, keepaliveS };
    await withClient(argv, (c) => c.call('node.update', params));
    process.stdout.write(`${argv.node}\n`);
  },
});

const rm = defineCommand({
  command: 'rm <node>',
  aliases: ['remove'],
  describe: 'Remove a node from the fleet',
  builder: (y) =>
    withConnection(y).positional('node', nodeArg).option('force', {
      alias: 'f',
      type: 'boolean',
      default: false,
      describe: 'remove the node even if it is still reachable',
    }),
  handler: async (argv) => {
    await withClient(argv, (c) => c.call('node.rm', { node: argv.node, force: argv.force }));
    process.stdout.write(`${argv.node}\n`);
  },
});

const roleChange = (verb: 'promote' | 'demote', describe: string) =>
  defineCommand({
    command: `${verb} <node>`,
    describe,
    builder: (y) => withConnection(y).positional('node', nodeArg),
    handler: async (argv) => {
      await withClient(argv, (c) => c.call(`node.${verb}`, { node: argv.node }));
      process.stdout.write(`${argv.node}\n`);
    },
  });

const promote = roleChange('promote', 'Make a manager that was demoted vote again');
const demote = roleChange(
  'demote',
  'Make a manager stop voting (it keeps a copy of the state); a leader hands over first',
);

export const nodeCommand = commandGroup('node', 'Manage the nodes of the fleet', [
  listed(ls),
  listed(ps),
  listed(inspect),
  listed(nodeLogs),
  listed(update),
  listed(rm),
  listed(promote),
  listed(demote),
  listed(upgrade),
]);
