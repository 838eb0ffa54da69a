// A CLI that starts fast and remembers: saved contexts, their precedence, completion, lazy loading, join lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOP_LEVEL, buildParser } from '../../bin/cli.js';
import { resolveConnection, type ContextFile } from '../../manager/cli/contexts.js';
import { topLevelHelp } from '../../manager/cli/top-help.js';
import { fleetInvocation } from '../../manager/cli/up.js';
import { captureCalls } from '../helpers/cli-stub.js';

// The tests weigh flags, environment and contexts: a FLEET_HOST or FLEET_IDENTITY of the shell
// that runs them must not take part.
delete process.env.FLEET_HOST;
delete process.env.FLEET_IDENTITY;
delete process.env.FLEET_INSECURE;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const FLEET = path.join(ROOT, 'bin', 'fleet.js');
const ok = async (argv: string[], answers = {}) => {
  const r = await captureCalls(argv, answers);
  assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r;
};

test('contexts are created, listed, used and removed in the config directory', async () => {
  const config = process.env.XDG_CONFIG_HOME ?? '';
  await ok(['context', 'create', 'rack', '--host', 'pi-1,pi-2:4999', '--identity', 'admin.json']);
  await ok(['context', 'create', 'lab', '--host', '10.0.0.9', '--identity', '/ids/lab.json']);
  const ls = await ok(['context', 'ls']);
  assert.equal(
    ls.stdout,
    [
      'NAME     DESCRIPTION   HOST                  IDENTITY',
      'lab                    10.0.0.9:4883         /ids/lab.json',
      `rack *                 pi-1:4883,pi-2:4999   ${path.resolve('admin.json')}`,
      '',
    ].join('\n'),
    'the first context made is current; hosts get their port; identity paths are absolute',
  );
  assert.equal((await ok(['context', 'use', 'lab'])).stdout, 'lab\n');
  assert.equal((await ok(['context', 'show'])).stdout, 'lab\n');
  assert.equal((await ok(['context', 'ls', '-q'])).stdout, 'lab\nrack\n');
  assert.equal(
    (await ok(['context', 'ls', '--format', '{{.Name}}', '-f', 'name=r'])).stdout,
    'rack\n',
  );
  const refused = await captureCalls(['context', 'rm', 'lab']);
  assert.equal(refused.exitCode, 2);
  assert.match(refused.stderr, /^lab is the current context: use another first, or pass --force\n/);
  const missing = await captureCalls(['context', 'use', 'nowhere']);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /^No context named nowhere\n/);
  await ok(['context', 'rm', 'rack']);
  await ok(['context', 'rm', '--force', 'lab']);
  assert.equal((await ok(['context', 'ls', '-q'])).stdout, '');
  assert.ok(config.startsWith(tmpdir()), 'tests keep to a temporary config directory');
});

test('a command connects with the current context, unless a flag or the environment says otherwise', async () => {
  await ok([
    'context',
    'create',
    'home',
    '--host',
    '10.1.1.1',
    '--identity',
    '/ids/home.json',
    '--insecure',
    '--use',
  ]);
  const viaContext = await ok(['node', 'ls', '-q'], { 'node.ls': [] });
  assert.deepEqual(viaContext.connections[0], {
    host: '10.1.1.1:4883',
    identity: '/ids/home.json',
    insecure: true,
    context: 'home',
    stale: false,
  });
  const viaFlag = await ok(['node', 'ls', '-q', '--host', '10.2.2.2:4883'], { 'node.ls': [] });
  assert.equal(viaFlag.connections[0]?.host, '10.2.2.2:4883');
  assert.equal(
    viaFlag.connections[0]?.insecure,
    false,
    "another host does not take the context's --insecure",
  );
  await ok(['context', 'rm', '--force', 'home']);
});

test('precedence is flag, then environment, then the current context, then the defaults', () => {
  const file: ContextFile = {
    current: 'rack',
    contexts: {
      rack: { host: 'pi-1:4883', identity: '/r.json' },
      lab: { host: 'lab:4883', identity: '/l.json' },
    },
  };
  const defaults = { host: '127.0.0.1:4883', identity: './id.json' };
  assert.equal(resolveConnection({}, {}, file, defaults).host, 'pi-1:4883');
  assert.equal(resolveConnection({}, { FLEET_CONTEXT: 'lab' }, file, defaults).identity, '/l.json');
  const env = resolveConnection({}, { FLEET_HOST: 'env:1' }, file, defaults);
  assert.deepEqual([env.host, env.identity, env.context], ['env:1', './id.json', null]);
  assert.equal(
    resolveConnection({ host: 'flag:2' }, { FLEET_HOST: 'env:1' }, file, defaults).host,
    'flag:2',
  );
  assert.equal(resolveConnection({ identity: '/f.json' }, {}, file, defaults).identity, '/f.json');
  assert.equal(
    resolveConnection({}, {}, { current: null, contexts: {} }, defaults).host,
    '127.0.0.1:4883',
  );
  assert.throws(
    () => resolveConnection({}, { FLEET_CONTEXT: 'gone' }, file, defaults),
    /names no context: gone/,
  );
});

test('fleet completion prints bash and zsh scripts that complete commands and subcommands', async () => {
  const bash = (await ok(['completion', 'bash'])).stdout;
  for (const word of ['service', 'context', 'create', 'rollback', 'promote', 'ps'])
    assert.match(bash, new RegExp(`\\b${word}\\b`));
  const complete = (words: string[]): string => {
    const script = `${bash}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _fleet; echo "\${COMPREPLY[*]}"`;
    return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.trim();
  };
  assert.equal(complete(['fleet', 'serv']), 'service');
  assert.equal(complete(['fleet', 'service', 'r']), 'rollback rm');
  assert.equal(complete(['fleet', 'node', 'p']), 'ps promote');
  const zsh = (await ok(['completion', 'zsh'])).stdout;
  assert.match(zsh, /^#compdef fleet\n/);
  assert.match(
    zsh,
    /service\) compadd -- create ls ps inspect logs scale update rollback promote rm/,
  );
  assert.equal((await captureCalls(['completion', 'fish'])).exitCode, 2);
});

test('join-token manager prints a manager start line, worker an agent start line', async () => {
  const nodes = [{ role: 'manager', status: 'ready', address: '10.0.0.5' }];
  const manager = await ok(['join-token', 'manager'], {
    'jointoken.get': { role: 'manager', token: 'FLEET-1-abc-def' },
    'node.ls': nodes,
  });
  assert.match(
    manager.stdout,
    /\n {2}fleet manager start --join 10\.0\.0\.5:4883 --token FLEET-1-abc-def /,
  );
  const worker = await ok(['join-token', 'worker'], {
    'jointoken.get': { role: 'worker', token: 'FLEET-1-abc-w' },
    'node.ls': nodes,
  });
  assert.match(
    worker.stdout,
    /\n {2}fleet agent start --manager 10\.0\.0\.5:4883 --token FLEET-1-abc-w /,
  );
});

test('fleet up names the command as it can be typed: fleet when on PATH, else the script path', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-path-'));
  assert.equal(fleetInvocation(FLEET, { PATH: dir }, ROOT), './bin/fleet.js');
  assert.equal(fleetInvocation(FLEET, { PATH: dir }, path.join(ROOT, 'docs')), FLEET);
  symlinkSync(FLEET, path.join(dir, 'fleet'));
  assert.equal(fleetInvocation(FLEET, { PATH: `/nowhere${path.delimiter}${dir}` }, ROOT), 'fleet');
});

test('the top-level help is what the option parser prints, and every entry matches its module', async () => {
  // Compared unwrapped: the parser pads to the terminal's width, the table's text does not.
  const parser = (await buildParser(['--help'])).wrap(null);
  assert.equal(
    topLevelHelp('$0 <command> [options]\n\nRun containers on a fleet of small boards.', TOP_LEVEL),
    (await parser.getHelp()) + '\n',
  );
  for (const e of TOP_LEVEL) {
    const m = await e.load();
    assert.equal(m.command, e.command);
    assert.equal(m.describe, e.describe, e.command);
  }
});

test('fleet --help and node ls --help load no engine, broker, database or MQTT code', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-hooks-'));
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOADED ' + r.url + '\\n'); return r; }\n",
  );
  const register = path.join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module'; register(${JSON.stringify('file://' + hooks)});\n`,
  );
  const loaded = (args: string[]): string[] => {
    const r = spawnSync(process.execPath, ['--import', register, FLEET, ...args], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stderr.split('\n').filter((l) => l.startsWith('LOADED '));
  };
  const heavy = /node_modules\/(dockerode|aedes|better-sqlite3|mqtt|zod|tweetnacl)\//;
  const help = loaded(['--help']);
  assert.ok(
    help.some((l) => l.includes('/dist/bin/cli.js')),
    'the hook sees the CLI load',
  );
  assert.deepEqual(
    help.filter((l) => heavy.test(l) || /node_modules\/yargs\//.test(l)),
    [],
  );
  const nodeHelp = loaded(['node', 'ls', '--help']);
  assert.deepEqual(
    nodeHelp.filter((l) => /node_modules\/(dockerode|aedes|better-sqlite3|mqtt)\//.test(l)),
    [],
  );
  assert.deepEqual(
    nodeHelp.filter((l) => /dist\/(agent|manager\/cli\/service)\//.test(l)),
    [],
    'only node commands load',
  );
});
