// How CLI commands are declared and listed: groups name their subcommands, and the top level registers one table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import yargs from 'yargs';
import { main } from '../../bin/cli.js';
import { commandGroup, defineCommand, listed, selectors } from '../../manager/cli/command.js';

const leaf = (command: string, aliases: string[] = []) =>
  defineCommand({ command, aliases, describe: command, handler: () => undefined });

test('a command is selected by the first word of its command and by its aliases', () => {
  assert.deepEqual(selectors(listed(leaf('create <image> [command..]'))), ['create']);
  assert.deepEqual(selectors(listed(leaf('ls', ['list']))), ['ls', 'list']);
});

test('a group run without a subcommand names its subcommands in the order they are listed', async () => {
  const group = (subs: string[]) =>
    commandGroup(
      'thing',
      'Manage things',
      subs.map((s) => listed(leaf(s))),
    );
  const failure = async (subs: string[]): Promise<string> => {
    let message = '';
    await yargs()
      .command(group(subs))
      .exitProcess(false)
      .fail((msg) => {
        message = msg;
      })
      .parseAsync(['thing']);
    return message;
  };
  assert.equal(
    await failure(['create <x>', 'ls', 'rm <x..>']),
    'fleet thing needs a subcommand: create, ls or rm',
  );
  assert.equal(await failure(['start']), 'fleet thing needs a subcommand: start');
});

test('each command group of fleet, run bare, exits 2 naming its subcommands', async () => {
  const expected: Record<string, string> = {
    service:
      'fleet service needs a subcommand: create, ls, ps, inspect, logs, scale, update, rollback, promote or rm',
    node: 'fleet node needs a subcommand: ls, ps, inspect, logs, update, rm, promote, demote or upgrade',
    secret: 'fleet secret needs a subcommand: create, ls, inspect or rm',
    config: 'fleet config needs a subcommand: create, ls, inspect or rm',
    manager: 'fleet manager needs a subcommand: start or ls',
    os: 'fleet os needs a subcommand: build, configure, inspect or flash',
    image: 'fleet image needs a subcommand: push, ls, inspect or rm',
    agent: 'fleet agent needs a subcommand: start or release',
    dashboard: 'fleet dashboard needs a subcommand: token',
  };
  for (const [group, message] of Object.entries(expected)) {
    const r = await runMain([group]);
    assert.equal(r.code, 2, group);
    assert.deepEqual(r.output.trim().split('\n'), [message, `See 'fleet ${group} --help'.`]);
  }
});

test('fleet agent release, run bare, exits 2 naming its subcommands', async () => {
  const r = await runMain(['agent', 'release']);
  assert.equal(r.code, 2);
  assert.deepEqual(r.output.trim().split('\n'), [
    'fleet agent release needs a subcommand: push, ls or rm',
    "See 'fleet agent release --help'.",
  ]);
});

test('every command of the table is registered: fleet --help lists them in order', async () => {
  const r = await runMain(['--help'], 'stdout');
  const listedCommands = [...r.output.matchAll(/^ {2}fleet (\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(listedCommands, [
    'up',
    'manager',
    'agent',
    'node',
    'service',
    'stack',
    'image',
    'bundle',
    'network',
    'os',
    'secret',
    'config',
    'events',
    'soak',
    'join-token',
    'dashboard',
    'context',
    'sim',
    'completion',
  ]);
});

/** Runs the CLI in this process, capturing one output stream and the exit code. */
async function runMain(
  argv: string[],
  stream: 'stdout' | 'stderr' = 'stderr',
): Promise<{ code: number; output: string }> {
  const target = process[stream];
  const write = target.write.bind(target);
  let output = '';
  target.write = (chunk: string | Uint8Array) => {
    output += String(chunk);
    return true;
  };
  try {
    await main(argv);
  } finally {
    target.write = write;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, output };
}
