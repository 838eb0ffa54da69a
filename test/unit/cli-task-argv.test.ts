// Command lines parse like Docker's: the image and every word after it reach the manager as the task's command, untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceSpec } from '../../shared/spec.js';
import { shellWords, splitAtImage } from '../../manager/cli/service/task-argv.js';
import { captureCalls } from '../helpers/cli-stub.js';

/** Runs `fleet service create -d --name t ...words` against a stub manager; returns the spec sent. */
async function createdSpec(words: string[]): Promise<ServiceSpec> {
  const r = await captureCalls(['service', 'create', '-d', '--name', 't', ...words]);
  assert.equal(r.exitCode, 0, r.stderr);
  const { calls } = r;
  const create = calls.find((c) => c.method === 'service.create');
  assert.ok(create, 'service.create was sent');
  return (create.params as { spec: ServiceSpec }).spec;
}

test("sh -c 'echo hi' reaches the manager as three words", async () => {
  const spec = await createdSpec(['busybox', 'sh', '-c', 'echo hi']);
  assert.equal(spec.task.image, 'busybox');
  assert.deepEqual(spec.task.command, ['sh', '-c', 'echo hi']);
});

test("the program's -p and --save stay the program's: no port is published", async () => {
  const spec = await createdSpec(['redis', 'redis-server', '-p', '6380', '--save', '']);
  assert.deepEqual(spec.task.command, ['redis-server', '-p', '6380', '--save', '']);
  assert.deepEqual(spec.task.ports, []);
});

test("ping -d keeps its -d; fleet's own -d before the image still detaches", async () => {
  const spec = await createdSpec(['busybox', 'ping', '-d', 'x']);
  assert.deepEqual(spec.task.command, ['ping', '-d', 'x']);
});

test("nginx -g 'daemon off;' and --replicas 3 after the image are the task's", async () => {
  const a = await createdSpec(['nginx', '-g', 'daemon off;']);
  assert.deepEqual(a.task.command, ['-g', 'daemon off;']);
  const b = await createdSpec(['--replicas', '2', 'nginx', '--replicas', '3', '007', '1e3']);
  assert.equal(b.replicas, 2);
  assert.equal(b.task.image, 'nginx');
  assert.deepEqual(b.task.command, ['--replicas', '3', '007', '1e3']);
});

test('-- after the image still separates, and is not passed to the task', async () => {
  const spec = await createdSpec(['-p', '8080:80', 'busybox', '--', 'sh', '-c', 'x --y']);
  assert.deepEqual(spec.task.command, ['sh', '-c', 'x --y']);
  assert.deepEqual(spec.task.ports, [
    { published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' },
  ]);
});

test('--entrypoint on create is split as a shell would and kept apart from the command', async () => {
  const spec = await createdSpec(['--entrypoint', 'sh -c \'exec "$0" "$@"\'', 'busybox', 'id']);
  assert.deepEqual(spec.task.entrypoint, ['sh', '-c', 'exec "$0" "$@"']);
  assert.deepEqual(spec.task.command, ['id']);
  const plain = await createdSpec(['busybox']);
  assert.equal(plain.task.entrypoint, undefined, "the image's own entrypoint unless given");
});

test('service update --args and --entrypoint send the words a shell would make', async () => {
  const { calls, exitCode } = await captureCalls([
    'service',
    'update',
    '-d',
    '--args',
    `redis-server -p 6380 --save "" --name 'a b'`,
    '--entrypoint',
    '/bin/tini --',
    'cache',
  ]);
  assert.equal(exitCode, 0);
  const call = calls.find((c) => c.method === 'service.update');
  assert.ok(call);
  const p = call.params as { service: string; command?: string[]; entrypoint?: string[] };
  assert.equal(p.service, 'cache');
  assert.deepEqual(p.command, ['redis-server', '-p', '6380', '--save', '', '--name', 'a b']);
  assert.deepEqual(p.entrypoint, ['/bin/tini', '--']);
});

test('the splitter stops at the first word that is not an option or its value', () => {
  const flags = { booleans: new Set(['d', 'detach', 'init']) };
  assert.deepEqual(splitAtImage(['--name', 'x', '-d', 'img', '-d'], flags), [
    '--name',
    'x',
    '-d',
    'img',
    '--',
    '-d',
  ]);
  assert.deepEqual(splitAtImage(['-dp8080:80', 'img'], flags), ['-dp8080:80', 'img', '--']);
  assert.deepEqual(splitAtImage(['--no-init', '--env=A=1', 'img', 'a'], flags), [
    '--no-init',
    '--env=A=1',
    'img',
    '--',
    'a',
  ]);
  assert.deepEqual(splitAtImage(['--name', 'x'], flags), ['--name', 'x']);
});

test('shell splitting honours quotes and backslashes, and refuses an open quote', () => {
  assert.deepEqual(shellWords(`a 'b c' "d\\"e" f\\ g  ''`), ['a', 'b c', 'd"e', 'f g', '']);
  assert.deepEqual(shellWords('  '), []);
  assert.deepEqual(shellWords(`"it's" 'say "hi"'`), ["it's", 'say "hi"']);
  assert.throws(() => shellWords(`echo 'oops`), /--args: unterminated ' quote/);
  assert.throws(() => shellWords('echo "oops', 'entrypoint'), /--entrypoint: unterminated " quote/);
});

test('a bad --args is one usage line and exit 2', async () => {
  const { exitCode, stderr } = await captureCalls(['service', 'update', '--args', "a 'b", 'web']);
  assert.equal(exitCode, 2);
  assert.match(stderr, /^Invalid value for --args: unterminated ' quote\n/);
});
