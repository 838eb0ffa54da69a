// Service options on the command line: flag parsing and its errors, env files, hostname templates, the spec and updates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOptionsChange } from '../../manager/api/options-update.js';
import { parseEnvFile, readEnvFiles } from '../../manager/cli/flags/container.js';
import { parseDevice, parseUlimit } from '../../manager/cli/flags/devices.js';
import { limitMemoryOption } from '../../manager/cli/flags/limits.js';
import { mountsFlag, parseMount } from '../../manager/cli/flags/mounts.js';
import { parsePlacementPref } from '../../manager/cli/flags/placement-pref.js';
import { optionsChangeOf, taskOptionsOf } from '../../manager/cli/flags/service-options.js';
import { buildSpec } from '../../manager/cli/service/spec.js';
import { UsageError } from '../../manager/cli/usage.js';
import {
  hostnameTemplateProblem,
  renderHostname,
  serviceSpecSchema,
  taskTemplateSchema,
} from '../../shared/spec.js';
import { optionsChangeSchema } from '../../shared/task-options-change.js';

const usage = (pattern: RegExp) => (e: unknown) =>
  e instanceof UsageError && pattern.test(e.message);

test('--mount reads Docker syntax for volumes, binds and tmpfs', () => {
  assert.deepEqual(parseMount('mount', 'type=volume,source=data,target=/data'), {
    type: 'volume',
    source: 'data',
    target: '/data',
  });
  assert.deepEqual(parseMount('mount', 'src=/srv/www,dst=/www,type=bind,ro'), {
    type: 'bind',
    source: '/srv/www',
    target: '/www',
    readOnly: true,
  });
  assert.deepEqual(parseMount('mount', 'type=tmpfs,destination=/run,tmpfs-size=16M'), {
    type: 'tmpfs',
    target: '/run',
    tmpfsSizeBytes: 16 * 1024 * 1024,
  });
  assert.deepEqual(
    parseMount(
      'mount',
      'source=nfs1,target=/n,volume-driver=local,volume-opt=type=nfs,volume-opt=o=addr=10.0.0.1,readonly=false',
    ),
    {
      type: 'volume',
      source: 'nfs1',
      target: '/n',
      readOnly: false,
      volumeDriver: 'local',
      volumeOptions: { type: 'nfs', o: 'addr=10.0.0.1' },
    },
  );
});

test('--mount mistakes each get one clear message naming the flag and the problem', () => {
  const cases: [string, RegExp][] = [
    ['type=volume,source=data', /target=\/path is required/],
    ['type=disk,target=/d', /type is volume, bind or tmpfs, not "disk"/],
    ['type=volume,target=/d', /volume mount needs source=NAME/],
    ['type=bind,source=relative,target=/d', /bind mount needs source=\/absolute/],
    ['type=tmpfs,source=x,target=/d', /tmpfs mount takes no source/],
    ['type=bind,source=/a,target=/d,volume-opt=x=y', /volume-opt apply to type=volume only/],
    ['type=volume,source=v,target=/d,tmpfs-size=1M', /tmpfs-size applies to type=tmpfs only/],
    ['source=v,target=/d,size=1', /unknown key "size"; the keys are type/],
    ['source=v,,target=/d', /an empty field/],
    ['source=v,target=/d,volume-opt=novalue', /volume-opt takes KEY=VALUE/],
    ['source=v,target=relative', /absolute path/],
    ['source=v,target=/d,readonly=maybe', /readonly is true or false/],
    ['source=bad name,target=/d', /volume name "bad name"/],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => parseMount('mount', text), usage(/^Invalid value for --mount: /), text);
    assert.throws(() => parseMount('mount', text), usage(why), text);
  }
  assert.throws(
    () => mountsFlag('mount', ['source=a,target=/d', 'type=tmpfs,target=/d']),
    usage(/two mounts at \/d/),
  );
});

test('--device, --ulimit, --placement-pref and --limit-memory parse as Docker writes them', () => {
  assert.deepEqual(parseDevice('device', '/dev/i2c-1'), {
    host: '/dev/i2c-1',
    container: '/dev/i2c-1',
    permissions: 'rwm',
  });
  assert.deepEqual(parseDevice('device', '/dev/null:/dev/fake0'), {
    host: '/dev/null',
    container: '/dev/fake0',
    permissions: 'rwm',
  });
  assert.deepEqual(parseDevice('device', '/dev/ttyUSB0:r'), {
    host: '/dev/ttyUSB0',
    container: '/dev/ttyUSB0',
    permissions: 'r',
  });
  assert.throws(() => parseDevice('device', 'ttyUSB0'), usage(/--device: "ttyUSB0"/));
  assert.throws(() => parseDevice('device', '/dev/a:/dev/b:rwx'), usage(/--device/));
  assert.deepEqual(parseUlimit('ulimit', 'nofile=1024:2048'), {
    name: 'nofile',
    soft: 1024,
    hard: 2048,
  });
  assert.deepEqual(parseUlimit('ulimit', 'core=0'), { name: 'core', soft: 0, hard: 0 });
  assert.throws(() => parseUlimit('ulimit', 'nofile=4096:1024'), usage(/no higher than the hard/));
  assert.throws(() => parseUlimit('ulimit', 'nofile'), usage(/NAME=SOFT/));
  assert.deepEqual(parsePlacementPref('placement-pref', 'spread=node.labels.zone'), {
    spread: 'node.labels.zone',
  });
  assert.throws(
    () => parsePlacementPref('placement-pref', 'spread=node.hostname'),
    usage(/spread=node.labels.KEY/),
  );
  assert.equal(limitMemoryOption.coerce('32M'), 32 * 1024 * 1024);
  assert.throws(() => limitMemoryOption.coerce('1M'), usage(/at least 6M/));
});

test('--env-file reads KEY=VALUE lines, skips comments, and --env wins over it', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'envfile-'));
  const file = path.join(dir, 'app.env');
  writeFileSync(file, '# settings\nMODE=prod\n\n  URL=http://x/?a=b\nEMPTY=\n');
  const fromFile = readEnvFiles([file]);
  assert.deepEqual(fromFile, { MODE: 'prod', URL: 'http://x/?a=b', EMPTY: '' });
  const spec = buildSpec({ name: 's', image: 'i', envFile: fromFile, env: { MODE: 'dev' } });
  assert.deepEqual(spec.task.env, { MODE: 'dev', URL: 'http://x/?a=b', EMPTY: '' });
  assert.throws(
    () => readEnvFiles([path.join(dir, 'missing.env')]),
    usage(/missing.env: no such file/),
  );
  assert.throws(
    () => parseEnvFile('GOOD=1\nBAD KEY=2\n', 'f'),
    usage(/f, line 2: expected KEY=VALUE/),
  );
});

test("hostname templates accept Docker's fields, render per task, and refuse unknown ones", () => {
  const tpl = '{{.Service.Name}}-{{.Task.Slot}}.{{.Node.Hostname}}';
  assert.equal(hostnameTemplateProblem(tpl), null);
  assert.equal(
    renderHostname(tpl, {
      serviceName: 'web',
      slot: 3,
      taskId: 't1',
      nodeName: 'pi_4',
      nodeId: 'n1',
    }),
    'web-3.pi-4',
  );
  assert.equal(
    renderHostname('{{ .Node.ID }}-{{.Task.ID}}', {
      serviceName: 's',
      slot: 0,
      taskId: 'tk',
      nodeName: 'n',
      nodeId: 'abc',
    }),
    'abc-tk',
  );
  assert.match(
    hostnameTemplateProblem('{{.Service.Labels}}') ?? '',
    /unknown template field \{\{\.Service\.Labels\}\}/,
  );
  assert.match(hostnameTemplateProblem('{{.Task.Slot') ?? '', /template field/);
  assert.throws(() => buildSpec({ name: 's', image: 'i', hostname: 'a b' }), usage(/--hostname/));
});

test('create flags become task options in the spec, and absent flags leave no field', () => {
  const spec = buildSpec({
    name: 'cam',
    image: 'cam:1',
    mount: [parseMount('mount', 'source=pics,target=/pics')],
    readOnly: true,
    device: [parseDevice('device', '/dev/video0')],
    capAdd: ['NET_ADMIN'],
    limitCpu: 0.5,
    limitMemory: 64 * 1024 * 1024,
    reserveMemory: 32 * 1024 * 1024,
    hostname: '{{.Service.Name}}-{{.Task.Slot}}',
    user: '1000:1000',
    workdir: '/app',
    containerLabel: { team: 'vision' },
    stopSignal: 'SIGINT',
    dns: ['1.1.1.1'],
    tty: true,
    placementPref: [{ spread: 'node.labels.zone' }],
  });
  assert.deepEqual(spec.task.mounts, [{ type: 'volume', source: 'pics', target: '/pics' }]);
  assert.equal(spec.task.readOnly, true);
  assert.deepEqual(spec.task.limits, { cpu: 0.5, memoryBytes: 64 * 1024 * 1024 });
  assert.equal(spec.task.resources.memoryBytes, 32 * 1024 * 1024);
  assert.equal(spec.task.hostname, '{{.Service.Name}}-{{.Task.Slot}}');
  assert.deepEqual(spec.placementPrefs, [{ spread: 'node.labels.zone' }]);
  assert.equal(spec.task.stopSignal, 'SIGINT');
  const plain = buildSpec({ name: 'p', image: 'i', ...{ readOnly: false, capAdd: [], mount: [] } });
  for (const k of ['mounts', 'readOnly', 'capAdd', 'limits', 'hostname', 'tty'])
    assert.equal(k in plain.task, false, k);
  assert.deepEqual(taskOptionsOf({}), {});
  // A spec written before these options existed still reads, unchanged.
  const old = { image: 'i', command: [], env: {}, ports: [], secrets: [], configs: [] };
  assert.equal('mounts' in taskTemplateSchema.parse(old), false);
});

test('service update changes options with -add/-rm forms, restart policy, reservations and labels', () => {
  const before = serviceSpecSchema.parse({
    name: 'cam',
    labels: { tier: 'edge' },
    task: {
      image: 'cam:1',
      mounts: [
        { type: 'volume', source: 'a', target: '/a' },
        { type: 'tmpfs', target: '/t' },
      ],
      capAdd: ['NET_ADMIN'],
      hostname: 'old',
      limits: { memoryBytes: 64 * 1024 * 1024 },
      containerLabels: { x: '1' },
    },
  });
  const change = optionsChangeSchema.parse(
    optionsChangeOf({
      mountAdd: [parseMount('mount-add', 'type=bind,source=/srv,target=/a')],
      mountRm: ['/t'],
      capDrop: ['NET_ADMIN', 'MKNOD'],
      hostname: '',
      limitMemory: 0,
      limitCpu: 2,
      reserveCpu: 0.25,
      restartCondition: 'on-failure',
      restartDelay: 2000,
      labelAdd: { owner: 'ops' },
      labelRm: ['tier'],
      containerLabelRm: ['x'],
      placementPrefAdd: [{ spread: 'node.labels.zone' }],
      readOnly: true,
    }),
  );
  const after = applyOptionsChange(before, change);
  assert.deepEqual(after.task.mounts, [{ type: 'bind', source: '/srv', target: '/a' }]);
  assert.equal('capAdd' in after.task, false);
  assert.deepEqual(after.task.capDrop, ['NET_ADMIN', 'MKNOD']);
  assert.equal('hostname' in after.task, false);
  assert.deepEqual(after.task.limits, { cpu: 2 });
  assert.equal(after.task.resources.cpu, 0.25);
  assert.equal(after.task.restart.condition, 'on-failure');
  assert.equal(after.task.restart.delayMs, 2000);
  assert.deepEqual(after.labels, { owner: 'ops' });
  assert.equal('containerLabels' in after.task, false);
  assert.deepEqual(after.placementPrefs, [{ spread: 'node.labels.zone' }]);
  assert.equal(after.task.readOnly, true);
  assert.deepEqual(serviceSpecSchema.parse(after), after, 'the result is a valid spec');
  // Nothing asked, nothing changed.
  assert.deepEqual(
    applyOptionsChange(before, optionsChangeSchema.parse(optionsChangeOf({}))),
    before,
  );
});

test('bin/fleet.js exits 2 on a bad --mount or --hostname, with one message line and a hint', () => {
  const script = fileURLToPath(new URL('../../../bin/fleet.js', import.meta.url));
  const run = (...flags: string[]) =>
    spawnSync(process.execPath, [script, 'service', 'create', '--name', 'web', ...flags, 'img'], {
      encoding: 'utf8',
    });
  for (const [flags, message] of [
    [['--mount', 'type=volume,target=/d'], /^Invalid value for --mount: .*source=NAME/],
    [['--mount', 'target=/d,colour=red'], /^Invalid value for --mount: .*unknown key "colour"/],
    [['--hostname', '{{.Node.Colour}}'], /^Invalid value for --hostname: .*unknown template field/],
    [['--limit-memory', 'lots'], /^Invalid value for --limit-memory: "lots"/],
    [['--placement-pref', 'spread=zone'], /^Invalid value for --placement-pref: "spread=zone"/],
  ] as const) {
    const r = run(...flags);
    assert.equal(r.status, 2, flags.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0] ?? '', message);
  }
  // Update has the -add/-rm forms, parsed the same way.
  const r = spawnSync(
    process.execPath,
    [script, 'service', 'update', '--mount-add', 'type=tmpfs,source=x,target=/t', 'web'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^Invalid value for --mount-add: .*a tmpfs mount takes no source/);
});
