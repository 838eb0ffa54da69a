// The CLI's pure parts: flag parsing, spec building, convergence, output, and its error exits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { TaskView } from '../../shared/api.js';
import { FleetError } from '../../shared/errors.js';
import {
  generateNodeKeys,
  generateSigningKey,
  issueCertificate,
  type Identity,
} from '../../shared/identity.js';
import { helpCommand, main } from '../../bin/cli.js';
import {
  formatDuration,
  relativeTime,
  renderServiceDetail,
  renderTable,
} from '../../manager/cli/format.js';
import { parseHosts } from '../../manager/cli/connection.js';
import { parseKeyValues } from '../../manager/cli/flags/env-labels.js';
import { constraintsFlag } from '../../manager/cli/flags/placement.js';
import { parsePublish } from '../../manager/cli/flags/publish.js';
import { updateConfigsOf } from '../../manager/cli/flags/rollout.js';
import { bytesFlag, countFlag, durationFlag } from '../../manager/cli/flags/values.js';
import { connectClient } from '../../manager/cli/rpc-client.js';
import {
  convergence,
  replacesTasks,
  updateOutcome,
  updateProgress,
} from '../../manager/cli/service/follow.js';
import { parseScale } from '../../manager/cli/service/scale.js';
import { buildSpec } from '../../manager/cli/service/spec.js';
import { UsageError } from '../../manager/cli/usage.js';
import { T0, iso, serviceDetail, taskView, withUpdate } from '../helpers/cli-views.js';

const usageError = (flag: string) => (e: unknown) =>
  e instanceof UsageError && e.message.includes(`--${flag}`);

test('--publish short form maps PUBLISHED:TARGET, defaulting to tcp', () => {
  assert.deepEqual(parsePublish('8080:80'), { published: 8080, target: 80, protocol: 'tcp' });
  assert.deepEqual(parsePublish('5353:53/udp'), { published: 5353, target: 53, protocol: 'udp' });
  assert.deepEqual(parsePublish('80'), { target: 80, protocol: 'tcp' });
});

test('--publish long form reads published, target, protocol and mode', () => {
  assert.deepEqual(parsePublish('published=8080,target=80,protocol=tcp,mode=host'), {
    published: 8080,
    target: 80,
    protocol: 'tcp',
    mode: 'host',
  });
  assert.deepEqual(parsePublish('target=53,protocol=udp'), {
    target: 53,
    protocol: 'udp',
    mode: 'ingress',
  });
});

test('--publish refuses malformed values, naming the flag and the value', () => {
  const bad = ['abc', '8080:', '70000:80', '80/sctp', 'published=80', 'target=80,color=red'];
  for (const value of bad) {
    assert.throws(() => parsePublish(value), usageError('publish'), value);
  }
  assert.throws(() => parsePublish('x:80'), /"x:80"/);
});

test('--env splits at the first = and needs one; --label allows a bare key', () => {
  assert.deepEqual(parseKeyValues('env', ['A=1', 'URL=a=b', 'EMPTY='], true), {
    A: '1',
    URL: 'a=b',
    EMPTY: '',
  });
  assert.throws(() => parseKeyValues('env', ['NOVALUE'], true), usageError('env'));
  assert.throws(() => parseKeyValues('env', ['=1'], true), usageError('env'));
  assert.deepEqual(parseKeyValues('label', ['tier']), { tier: '' });
});

test('constraints are checked locally and a bad one names the flag', () => {
  const good = ['node.labels.zone==garage', 'node.role!=manager', 'node.platform.arch==arm64'];
  assert.deepEqual(constraintsFlag('constraint', good), good);
  for (const bad of ['node.colour==red', 'node.labels.zone=garage', 'zone==garage']) {
    assert.throws(() => constraintsFlag('constraint', [bad]), usageError('constraint'), bad);
  }
});

test('durations, sizes and counts parse, and bad ones name their flag', () => {
  assert.equal(durationFlag('restart-delay', '500ms'), 500);
  assert.equal(durationFlag('restart-delay', '5s'), 5000);
  assert.equal(durationFlag('timeout', '5m'), 300_000);
  assert.equal(durationFlag('timeout', '1.5h'), 5_400_000);
  assert.throws(() => durationFlag('restart-delay', 'soon'), usageError('restart-delay'));
  assert.equal(bytesFlag('reserve-memory', '64M'), 64 * 1024 * 1024);
  assert.throws(() => bytesFlag('reserve-memory', 'lots'), usageError('reserve-memory'));
  assert.equal(countFlag('replicas', 3), 3);
  assert.equal(countFlag('replicas', '4'), 4);
  assert.throws(() => countFlag('replicas', 'three'), usageError('replicas'));
  assert.throws(() => countFlag('replicas', '-1'), usageError('replicas'));
});

test('hosts default their port and a comma-separated list keeps its order', () => {
  assert.deepEqual(parseHosts('10.0.0.2, 10.0.0.3:1883'), ['10.0.0.2:4883', '10.0.0.3:1883']);
  assert.throws(() => parseHosts(' , '), usageError('host'));
});

test('a service spec is built from flags with the schema defaults filled in', () => {
  const spec = buildSpec({
    name: 'web',
    image: 'nginx:alpine',
    command: ['nginx', '-g', 'daemon off;'],
    replicas: 3,
    env: { A: '1' },
    publish: [parsePublish('8080:80')],
    constraint: ['node.labels.zone==garage'],
    reserveMemory: 64 * 1024 * 1024,
    restartDelay: 2000,
  });
  assert.equal(spec.mode, 'replicated');
  assert.equal(spec.replicas, 3);
  assert.deepEqual(spec.task.command, ['nginx', '-g', 'daemon off;']);
  assert.deepEqual(spec.task.ports, [
    { published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' },
  ]);
  assert.deepEqual(spec.task.resources, { cpu: 0, memoryBytes: 64 * 1024 * 1024 });
  assert.equal(spec.task.restart.delayMs, 2000);
  assert.equal(spec.task.restart.condition, 'any');
  assert.equal(spec.task.stopGracePeriodMs, 10_000);
  assert.equal(spec.task.init, undefined, 'no init unless --init, as in Docker');
  assert.equal(buildSpec({ name: 'web', image: 'x', init: true }).task.init, true);
});

test('an invalid spec is a usage error naming the flag, not a schema dump', () => {
  assert.throws(() => buildSpec({ name: 'my web', image: 'nginx' }), usageError('name'));
  assert.throws(
    () => buildSpec({ name: 'probe', image: 'busybox', mode: 'global', replicas: 2 }),
    usageError('replicas'),
  );
});

test('scale arguments are SERVICE=REPLICAS', () => {
  assert.deepEqual(parseScale('web=5'), { service: 'web', replicas: 5 });
  for (const bad of ['web', 'web=', '=3', 'web=-1']) {
    assert.throws(() => parseScale(bad), /expected SERVICE=REPLICAS/, bad);
  }
});

test('a replicated service converges when every desired task runs and none is on its way', () => {
  const running = [taskView(1, 'running'), taskView(2, 'running')];
  assert.equal(convergence(serviceDetail(2), running).converged, true);
  const pending = [
    taskView(1, 'running'),
    taskView(2, 'pending', { message: 'no suitable node: 2 nodes lack arch arm64' }),
  ];
  const c = convergence(serviceDetail(2), pending);
  assert.equal(c.converged, false);
  assert.equal(c.lines.get('web.2'), 'web.2: pending (no suitable node: 2 nodes lack arch arm64)');
  assert.equal(c.lines.get('overall'), 'overall progress: 1 out of 2 tasks running');
});

test('after an update, tasks of the previous spec version are outdated, not converged', () => {
  const old = [taskView(1, 'running'), taskView(2, 'running')];
  const updated = { ...serviceDetail(2), specVersion: 2 };
  assert.equal(convergence(updated, old).converged, false);
  const fresh = old.map((t) => ({ ...t, specVersion: 2 }));
  assert.equal(convergence(updated, fresh).converged, true);
});

test('shut-down and rejected history does not count, and a rejection explains the retry', () => {
  const tasks = [
    taskView(1, 'rejected', {
      desiredState: 'shutdown',
      error: 'image not found',
      updatedAt: iso(T0),
    }),
    taskView(1, 'starting', { id: 'retry' }),
  ];
  const c = convergence(serviceDetail(1), tasks);
  assert.equal(c.converged, false);
  assert.equal(c.lines.get('web.1'), 'web.1: starting (previous task rejected: image not found)');
});

test('a global service converges when its tasks on every eligible node run', () => {
  const t = (node: string, state: string): TaskView =>
    taskView(0, state, { name: `web.${node}`, node, nodeName: node });
  const c = convergence(serviceDetail(2, 'global'), [t('a', 'running'), t('b', 'running')]);
  assert.equal(c.converged, true);
  assert.equal(c.lines.get('web.a'), 'web@a: running');
});

test('tables align plain columns and relative times read like docker', () => {
  assert.equal(
    renderTable(
      ['ID', 'NAME'],
      [
        ['abc', 'web'],
        ['a', 'x'],
      ],
    ),
    'ID    NAME\nabc   web\na     x\n',
  );
  assert.equal(relativeTime(T0 - 5000, T0), '5 seconds ago');
  assert.equal(relativeTime(T0 - 70_000, T0), 'About a minute ago');
  assert.equal(relativeTime(T0 + 1000, T0), 'Less than a second ago');
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(90_000), '1m30s');
});

test('the --help hint names the command that failed', () => {
  assert.equal(
    helpCommand(['service', 'create', 'nginx', '--publish', 'x']),
    'fleet service create --help',
  );
  assert.equal(helpCommand(['join-token', 'nobody']), 'fleet join-token --help');
  assert.equal(helpCommand(['bogus']), 'fleet --help');
});

/** Runs main in this process with stderr captured; restores the exit code it sets. */
async function runMain(argv: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = (chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  };
  try {
    await main(argv);
  } finally {
    process.stderr.write = write;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stderr };
}

test('a bad flag value exits 2 with the message and a --help hint, no stack trace', async () => {
  const r = await runMain(['service', 'create', '--name', 'web', '--publish', 'nope', 'nginx']);
  assert.equal(r.code, 2);
  assert.deepEqual(r.stderr.trim().split('\n'), [
    'Invalid value for --publish: "nope" (expected PUBLISHED:TARGET[/udp] or published=N,target=N[,protocol=tcp|udp][,mode=ingress|host][,proxy=v1|v2])',
    "See 'fleet service create --help'.",
  ]);
});

test('a bad health flag exits 2 naming the flag; --no-healthcheck refuses --health-cmd', async () => {
  const bad = await runMain([
    'service',
    'create',
    '--name',
    'w',
    '--health-interval',
    'soon',
    'img',
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--health-interval/);
  const both = await runMain([
    'service',
    'create',
    '--name',
    'w',
    '--no-healthcheck',
    '--health-cmd',
    'true',
    'img',
  ]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--no-healthcheck conflicts with --health-\* options/);
});

test('a missing identity file is one error line and exit 1', async () => {
  const r = await runMain(['node', 'ls', '--identity', '/nonexistent/identity.json']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'Error: no identity file at /nonexistent/identity.json: pass --identity, set FLEET_IDENTITY or create a context (fleet context create)\n',
  );
});

test('bin/fleet.js exits 2 on an invalid constraint, printing one message line and a hint', () => {
  const script = fileURLToPath(new URL('../../../bin/fleet.js', import.meta.url));
  const r = spawnSync(
    process.execPath,
    [script, 'service', 'create', '--name', 'web', '--constraint', 'node.colour==red', 'nginx'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /^Invalid value for --constraint: "node\.colour==red"/);
  assert.equal(r.stdout, '');
});

function adminIdentity(): Identity {
  const root = generateSigningKey();
  const keys = generateNodeKeys();
  const body = {
    id: 'admin',
    role: 'admin' as const,
    signPub: keys.sign.publicKey,
    boxPub: keys.box.publicKey,
    issuedAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    serial: 's1',
  };
  const cert = issueCertificate(body, root);
  return { v: 1, id: 'admin', role: 'admin', keys, cert, rootPub: root.publicKey, managers: [] };
}

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

test('connecting where no manager listens fails fast, naming every host tried', async () => {
  const [a, b] = [await unusedPort(), await unusedPort()];
  const started = Date.now();
  await assert.rejects(
    connectClient({ hosts: [`127.0.0.1:${a}`, `127.0.0.1:${b}`], identity: adminIdentity() }),
    (e: unknown) =>
      e instanceof FleetError &&
      e.code === 'unavailable' &&
      e.message === `no manager answered at 127.0.0.1:${a}, 127.0.0.1:${b} within 5s`,
  );
  assert.ok(Date.now() - started < 2000, 'a refused connection must not wait for the timeout');
});

/** Parses a command line the way the CLI does, returning the handler's argv (the handler is not run). */
async function parseFlags(argv: string[]): Promise<Record<string, unknown>> {
  const yargs = (await import('yargs')).default;
  const { withUpdateOptions } = await import('../../manager/cli/flags/rollout.js');
  return withUpdateOptions(yargs())
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      // As the CLI does: a throwing coerce reaches here wrapped in a YError.
      throw err instanceof UsageError ? err : new UsageError(msg || err.message);
    })
    .parseAsync(argv);
}

test('--update-* and --rollback-* flags become update and rollback settings, given fields only', async () => {
  const argv = await parseFlags([
    '--update-parallelism',
    '2',
    '--update-delay',
    '10s',
    '--update-monitor',
    '1m',
    '--update-failure-action',
    'rollback',
    '--update-max-failure-ratio',
    '0.25',
    '--update-order',
    'start-first',
    '--update-canary',
    '1',
    '--update-auto-promote',
    '--rollback-parallelism',
    '0',
    '--rollback-failure-action',
    'continue',
    '--rollback-order',
    'start-first',
  ]);
  assert.deepEqual(updateConfigsOf(argv), {
    update: {
      parallelism: 2,
      delayMs: 10_000,
      monitorMs: 60_000,
      failureAction: 'rollback',
      maxFailureRatio: 0.25,
      order: 'start-first',
      canary: 1,
      autoPromote: true,
    },
    rollback: { parallelism: 0, failureAction: 'continue', order: 'start-first' },
  });
  assert.deepEqual(updateConfigsOf(await parseFlags([])), {});
  assert.deepEqual(updateConfigsOf(await parseFlags(['--update-canary', '25%'])), {
    update: { canaryPercent: 25 },
  });
  assert.deepEqual(updateConfigsOf(await parseFlags(['--rollback-delay', '2s'])), {
    rollback: { delayMs: 2000 },
  });
});

test('bad --update-* and --rollback-* values are usage errors naming the flag', async () => {
  const bad: [string, string][] = [
    ['update-failure-action', 'bogus'],
    ['rollback-failure-action', 'rollback'],
    ['update-max-failure-ratio', '1.5'],
    ['update-max-failure-ratio', '-0.1'],
    ['rollback-max-failure-ratio', 'half'],
    ['update-order', 'random'],
    ['update-parallelism', 'two'],
    ['update-delay', 'soon'],
    ['rollback-monitor', '5 parsecs'],
    ['update-canary', '150%'],
    ['update-canary', 'a few'],
  ];
  for (const [flag, value] of bad) {
    await assert.rejects(parseFlags([`--${flag}`, value]), usageError(flag), `${flag} ${value}`);
  }
});

test('service create puts the update settings into the spec; the schema names the flag', () => {
  const spec = buildSpec({
    name: 'web',
    image: 'nginx',
    update: { parallelism: 2, canaryPercent: 25, failureAction: 'rollback' },
    rollback: { order: 'start-first' },
  });
  assert.deepEqual(spec.update, { parallelism: 2, canaryPercent: 25, failureAction: 'rollback' });
  assert.deepEqual(spec.rollback, { order: 'start-first' });
  assert.equal(buildSpec({ name: 'web', image: 'nginx' }).update, undefined);
  assert.throws(
    () => buildSpec({ name: 'web', image: 'nginx', update: { parallelism: 20_000 } }),
    usageError('update-parallelism'),
  );
});

test('service create and update refuse bad update flags with exit 2', async () => {
  const create = await runMain([
    'service',
    'create',
    '--name',
    'web',
    '--update-failure-action',
    'bogus',
    'nginx',
  ]);
  assert.equal(create.code, 2);
  assert.match(
    create.stderr,
    /^Invalid value for --update-failure-action: "bogus" \(expected pause\|continue\|rollback\)/,
  );
  const update = await runMain(['service', 'update', 'web', '--update-max-failure-ratio', '1.5']);
  assert.equal(update.code, 2);
  assert.match(update.stderr, /--update-max-failure-ratio: "1\.5"/);
  const rollback = await runMain([
    'service',
    'update',
    'web',
    '--rollback-failure-action',
    'rollback',
  ]);
  assert.equal(rollback.code, 2);
  assert.match(
    rollback.stderr,
    /--rollback-failure-action: "rollback" \(expected pause\|continue\)/,
  );
});

test('an update is followed when it replaces tasks; a scale only waits for convergence', () => {
  const before = withUpdate(serviceDetail(3), 'completed');
  const newVersion = { ...withUpdate(serviceDetail(3), 'updating'), specVersion: 2 };
  assert.equal(replacesTasks(before, newVersion), true);
  const scaled = { ...withUpdate(serviceDetail(4), 'completed') };
  assert.equal(replacesTasks(before, scaled), false);
  assert.equal(replacesTasks(serviceDetail(3), serviceDetail(3)), false);
  // A paused update resumed by a change that needs no new tasks.
  assert.equal(
    replacesTasks(withUpdate(serviceDetail(3), 'paused'), withUpdate(serviceDetail(3), 'updating')),
    true,
  );
  // A scale while an update runs: that update is not this command's.
  assert.equal(
    replacesTasks(
      withUpdate(serviceDetail(3), 'updating'),
      withUpdate(serviceDetail(4), 'updating'),
    ),
    false,
  );
});

test('update progress counts new tasks running and healthy, and the outcome follows the state', () => {
  const d = { ...withUpdate(serviceDetail(3), 'updating'), specVersion: 2 };
  const tasks = [
    taskView(1, 'running', { specVersion: 2 }),
    taskView(2, 'running', { specVersion: 2, health: 'starting' }),
    taskView(3, 'running'),
  ];
  const p = updateProgress(d, tasks);
  assert.equal(p.lines.get('overall'), 'update: updating, 1 of 3 tasks updated');
  assert.equal(p.lines.get('web.3'), 'web.3: running (outdated, to be replaced)');
  assert.deepEqual(updateOutcome(d, 'update'), { kind: 'running' });
  assert.deepEqual(updateOutcome(withUpdate(d, 'completed'), 'update'), { kind: 'done' });
  const paused = withUpdate(d, 'paused', { message: 'update paused: task web.3 failed: exit 1' });
  assert.deepEqual(updateOutcome(paused, 'update'), {
    kind: 'failed',
    message: 'update paused: task web.3 failed: exit 1',
  });
  const back = withUpdate(d, 'rolled back', {
    message: 'rolled back: update failed: task web.2 failed',
  });
  assert.deepEqual(updateOutcome(back, 'update'), {
    kind: 'failed',
    message: 'service web rolled back: update failed: task web.2 failed',
  });
  assert.deepEqual(updateOutcome(back, 'rollback'), { kind: 'done' });
  assert.equal(updateOutcome(withUpdate(d, 'rollback paused'), 'rollback').kind, 'failed');
  const canary = withUpdate(d, 'canary', { message: '1 canary taskView(s) healthy' });
  assert.deepEqual(updateOutcome(canary, 'update'), {
    kind: 'waiting',
    message: '1 canary taskView(s) healthy',
  });
  const rolling = withUpdate(d, 'rolling back', { failedTasks: 1 });
  assert.equal(
    updateProgress(rolling, tasks).lines.get('overall'),
    'rollback: rolling back, 1 of 3 tasks rolled back, 1 failed',
  );
});

test('service inspect --pretty shows the update status', () => {
  const d = withUpdate(serviceDetail(3), 'paused', { message: 'update paused: task web.3 failed' });
  assert.match(
    renderServiceDetail(d),
    /^Update status: paused \(update paused: task web\.3 failed\), started .* ago$/m,
  );
  assert.doesNotMatch(renderServiceDetail(serviceDetail(3)), /Update status/);
});
