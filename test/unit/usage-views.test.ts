// Usage figures as people read them: node inspect --pretty and service ps --stats, and what the API adds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeView } from '../../shared/api.js';
import { renderNodePretty } from '../../manager/cli/format/node-pretty.js';
import { withNodeUsage, withTaskUsage } from '../../manager/api/usage-views.js';
import { UsageBook } from '../../manager/observe/usage-book.js';
import { FakeClock } from '../../shared/clock.js';
import { captureCalls } from '../helpers/cli-stub.js';
import { T0, iso, taskView } from '../helpers/cli-views.js';

const NODE: NodeView = {
  id: 'n1',
  name: 'pi-1',
  role: 'worker',
  status: 'ready',
  statusMessage: '',
  availability: 'active',
  address: '127.0.0.2',
  arch: 'arm64',
  os: 'linux',
  labels: {},
  runtime: 'process',
  agentVersion: '0.1.0',
  protocolVersion: 1,
  nodeVersion: null,
  upgrade: null,
  engineVersion: '22',
  allowDevices: false,
  resources: { cpus: 4, memoryBytes: 4 * 1024 ** 3 },
  tasks: 1,
  createdAt: iso(T0),
  updatedAt: iso(T0),
};

test('the API adds the latest figures to a node and its running tasks, with when they came', () => {
  const clock = new FakeClock(T0);
  const book = new UsageBook(clock, 60_000);
  const task = taskView(1, 'running');
  const node = {
    cpu: 0.25,
    memUsed: 1024 ** 3,
    memTotal: 4 * 1024 ** 3,
    diskUsed: 1,
    diskTotal: 2,
  };
  book.record('n1', { at: 1, node, tasks: [{ id: task.id, cpu: 0.8, mem: 5, rx: 6, tx: 7 }] });
  assert.deepEqual(withNodeUsage(NODE, book).usage, { ...node, reportedAt: iso(T0) });
  assert.equal(withNodeUsage({ ...NODE, id: 'n2' }, book).usage, undefined);
  const [running, stopped] = withTaskUsage([task, { ...task, state: 'shutdown' }], book);
  assert.deepEqual(running?.usage, { cpu: 0.8, mem: 5, rx: 6, tx: 7, reportedAt: iso(T0) });
  assert.equal(stopped?.usage, undefined, 'figures of a stopped task are not shown');
  assert.deepEqual(withTaskUsage([task], undefined), [task], 'a follower has none');
});

test('node inspect --pretty shows the figures and their age; a node without any shows none', () => {
  assert.doesNotMatch(renderNodePretty(NODE), /Usage/);
  const reportedAt = iso(Date.now() - 5_000);
  const usage = {
    cpu: 0.253,
    memUsed: 1024 ** 3,
    memTotal: 4 * 1024 ** 3,
    diskUsed: 8 * 1024 ** 3,
    diskTotal: 32 * 1024 ** 3,
    tempC: 61.2,
    underVoltage: true,
    reportedAt,
  };
  const text = renderNodePretty({ ...NODE, usage });
  assert.match(
    text,
    /\nUsage \(reported \d+ seconds? ago\):\n CPU: +25\.3%\n Memory: +1\.0GiB of 4\.0GiB \(25%\)\n Disk: +8\.0GiB of 32\.0GiB \(25%\)\n Temperature: +61\.2 °C\n Under-voltage: +Yes\n/,
  );
  assert.doesNotMatch(text, /Throttled/, 'a figure the board does not expose is not shown');
});

test('service ps --stats adds CPU and MEM columns; plain service ps does not', async () => {
  const busy = taskView(1, 'running', {
    usage: { cpu: 0.987, mem: 12 * 1024 ** 2, rx: 0, tx: 0, reportedAt: iso(T0) },
  });
  const idle = taskView(2, 'running');
  const stats = await captureCalls(['service', 'ps', 'web', '--stats'], {
    'service.ps': [busy, idle],
  });
  assert.equal(stats.exitCode, 0, stats.stderr);
  const [header, first, second] = stats.stdout.trimEnd().split('\n');
  assert.match(header ?? '', /PORTS +CPU +MEM$/);
  assert.match(first ?? '', /98\.7% +12\.0MiB$/);
  assert.doesNotMatch(second ?? '', /%/);
  const plain = await captureCalls(['service', 'ps', 'web'], { 'service.ps': [busy] });
  assert.doesNotMatch(plain.stdout, /CPU|MEM/);
  const tpl = await captureCalls(['service', 'ps', 'web', '--format', '{{.Name}} {{.CPU}}'], {
    'service.ps': [busy],
  });
  assert.equal(tpl.stdout, 'web.1 98.7%\n');
});
