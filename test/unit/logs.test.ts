// The parts of log streaming without a cluster: merging by time, the relay's stream state, the engine's frames,
// the CLI's flags and prefixes, the agent's byte budget and lease, and the process runtime's rotated logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeClock, systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/log.js';
import { LEASE_MS, logDataSchema, type LogData, type LogLine } from '../../shared/log-stream.js';
import { LogMerger, batches } from '../../manager/logs/merge.js';
import { RelayedStream } from '../../manager/logs/stream.js';
import type { PlacedPart } from '../../manager/logs/targets.js';
import { EngineLines } from '../../agent/runtime/docker/logs.js';
import { LogStreamer } from '../../agent/logs/streamer.js';
import { OwnLog } from '../../agent/logs/own-log.js';
import type { LogReading, OutputLine, OutputSink } from '../../agent/runtime/log-types.js';
import type { Runtime } from '../../agent/runtime/types.js';
import { LogBook } from '../../agent/runtime/process/log-book.js';
import { readProcessLog } from '../../agent/runtime/process/log-reader.js';
import { formatLine, parseSince, parseTail, prefixes } from '../../manager/cli/logs/format.js';
import { waitFor } from '../helpers/wait.js';

const line = (k: number, t: number, x = `l${t}`): LogLine => ({ k, t, x });

test('the merger holds each line a while, then sends what is due in the order it was written', () => {
  const m = new LogMerger(150);
  m.push([line(0, 1_010), line(0, 1_030)], 1_000);
  m.push([line(1, 1_005), line(1, 1_020)], 1_040); // a slower node
  assert.deepEqual(m.take(1_100), []);
  assert.deepEqual(
    m.take(1_150).map((l) => l.t),
    [1_010, 1_030],
  );
  assert.deepEqual(
    m.take(1_190).map((l) => l.t),
    [1_005, 1_020],
  );
  m.push([line(0, 5), line(1, 5, 'second'), line(0, 1)], 2_000);
  assert.deepEqual(
    m.take(2_000, true).map((l) => l.x),
    ['l1', 'l5', 'second'],
    'ties keep arrival order',
  );
  assert.equal(m.size, 0);
});

test('batches keep each payload under its size, and a line too long alone goes alone', () => {
  const lines = Array.from({ length: 10 }, (_, i) => line(0, i, 'x'.repeat(100)));
  const out = batches(lines, 500);
  assert.deepEqual(
    out.flat().map((l) => l.t),
    lines.map((l) => l.t),
  );
  for (const b of out) assert.ok(JSON.stringify(b).length <= 500 + 160);
  assert.equal(batches([line(0, 1, 'y'.repeat(2_000))], 500).length, 1);
});

const parts: PlacedPart[] = [
  { key: 0, name: 'web.1', taskId: 'a', node: 'n1', nodeId: 'N1' },
  { key: 1, name: 'web.2', taskId: 'b', node: 'n2', nodeId: 'N2' },
];

test('a relayed stream takes only the lines a node reads, and without follow holds them to the end', () => {
  const s = new RelayedStream('cli', 'id', parts, { follow: false }, 0, LEASE_MS, 'w');
  s.accept('N1', [line(0, 10), line(1, 5)], 0); // key 1 is not N1's to send
  assert.equal(s.merger.size, 1);
  s.endParts('N1', [0, 1]);
  assert.deepEqual([...s.live], [1], "a node cannot end another node's part");
  assert.deepEqual(s.due(1_000), [], 'held until every part ended');
  s.endNode('N2', (p) => `-- node ${p.node} went down --`, 20);
  const due = s.due(1_000);
  assert.deepEqual(
    due.map((l) => [l.k, l.x, l.m ?? false]),
    [
      [0, 'l10', false],
      [1, '-- node n2 went down --', true],
    ],
  );
  assert.equal(s.finished, true);
});

test('a followed stream from one node sends at once; from several it waits to merge', () => {
  const one = new RelayedStream('c', 'i', parts.slice(0, 1), { follow: true }, 0, LEASE_MS, 'w');
  one.accept('N1', [line(0, 1)], 0);
  assert.equal(one.due(0).length, 1);
  const two = new RelayedStream('c', 'i', parts, { follow: true }, 0, LEASE_MS, 'w');
  two.accept('N1', [line(0, 1)], 0);
  assert.equal(two.due(0).length, 0);
  assert.equal(two.due(1_000).length, 1);
});

function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

test("the engine's frames are split into stamped lines, across chunk edges, stderr told apart", () => {
  const e = new EngineLines();
  const all = Buffer.concat([
    frame(1, '2026-12-07T13:00:00.123456789Z hello\n2026-12-07T13:00:01.000000000Z wor'),
    frame(1, 'ld\n'),
    frame(2, '2026-12-07T13:00:02.500000000Z oops\n'),
  ]);
  const out = [...e.push(all.subarray(0, 13)), ...e.push(all.subarray(13)), ...e.end(0)];
  assert.deepEqual(out, [
    { t: Date.parse('2026-12-07T13:00:00.123Z'), x: 'hello' },
    { t: Date.parse('2026-12-07T13:00:01Z'), x: 'world' },
    { t: Date.parse('2026-12-07T13:00:02.5Z'), e: true, x: 'oops' },
  ]);
  const tty = new EngineLines(Date.parse('2026-12-07T13:00:01Z'));
  const raw = tty.push(Buffer.from('2026-12-07T13:00:00Z old\n2026-12-07T13:00:05Z new\n'));
  assert.deepEqual(
    raw.map((l) => l.x),
    ['new'],
    'a TTY stream is raw; --since is applied to the times',
  );
});

test('--since takes Unix times, dates and durations; --tail a count or all; bad values say why', () => {
  const now = Date.parse('2026-12-07T13:00:00Z');
  assert.equal(parseSince('10m', now), now - 600_000);
  assert.equal(parseSince('1765105404', now), 1_765_105_404_000);
  assert.equal(parseSince('2026-12-07T12:00:00Z', now), now - 3_600_000);
  assert.throws(() => parseSince('yesterday', now), /--since/);
  assert.equal(parseTail('all'), undefined);
  assert.equal(parseTail('20'), 20);
  assert.throws(() => parseTail('-3'), /--tail/);
  const p = prefixes(
    [
      { key: 0, name: 'web.1', taskId: 'abc', node: 'pi-1' },
      { key: 1, name: 'web.10', taskId: 'def', node: 'pi-2' },
    ],
    { timestamps: false, taskIds: false },
  );
  assert.deepEqual([...p.values()], ['web.1@pi-1 ', 'web.10@pi-2']);
  const text = formatLine(
    line(0, now, 'hi'),
    p.get(0),
    { timestamps: true, taskIds: false },
    false,
  );
  assert.equal(text, 'web.1@pi-1  | 2026-12-07T13:00:00.000Z hi');
});

/** A runtime whose one workload has a log of `count` lines of 1000 bytes, read as fast as allowed. */
function bigLogRuntime(count: number): {
  runtime: Runtime;
  closed: () => boolean;
  read: () => number;
} {
  let closed = false;
  let read = 0;
  const runtime = {
    list: () => Promise.resolve([{ taskId: 't1', runtimeId: 'r1' }]),
    readLogs: (_id: string, _o: unknown, sink: OutputSink): LogReading => {
      const done = (async () => {
        for (let i = 0; i < count && !closed; i++) {
          await sink([{ t: i, x: `${i} `.padEnd(1_000, 'x') } satisfies OutputLine]);
          read = i + 1;
        }
      })();
      return { done, close: () => (closed = true) };
    },
  } as unknown as Runtime;
  return { runtime, closed: () => closed, read: () => read };
}

test('the budget holds a reader back (nothing dropped), and a stream nobody renews stops', async () => {
  const clock = new FakeClock();
  const sent: LogData[] = [];
  const { runtime, closed, read } = bigLogRuntime(400);
  const streamer = new LogStreamer({
    nodeId: 'n',
    runtime,
    clock,
    logger: silentLogger,
    budget: 10_000,
    publish: (_t, body) => {
      sent.push(logDataSchema.parse(JSON.parse(body.toString())));
      return true;
    },
  });
  const control = (msg: unknown): void => streamer.onControl(Buffer.from(JSON.stringify(msg)));
  control({
    v: 1,
    op: 'start',
    id: 's',
    sources: [{ key: 0, taskId: 't1' }],
    read: { follow: true },
  });
  const bytes = (): number => sent.flatMap((d) => d.lines).reduce((n, l) => n + l.x.length, 0);
  for (let i = 0; i < 40; i++) {
    await clock.advanceAsync(100);
    if (i % 15 === 0) control({ v: 1, op: 'renew', ids: ['s'] });
  }
  // 4 s at 10 kB/s after a 64 KiB burst: about 105 kB, not the 400 kB the reader has.
  const after4s = bytes();
  assert.ok(after4s > 80_000 && after4s < 130_000, `sent ${after4s} bytes in 4 s`);
  assert.ok(read() < 150, `the reader waited: ${read()} lines read`);
  assert.equal(sent[0]?.started, true);
  const texts = sent.flatMap((d) => d.lines).map((l) => Number(l.x.split(' ')[0]));
  assert.deepEqual(
    texts,
    texts.map((_, i) => i),
    'every line, in order',
  );
  // A renewal of a stream the agent does not have (lost with a connection) says so.
  control({ v: 1, op: 'renew', ids: ['unknown'] });
  assert.deepEqual(sent.at(-1), { v: 1, id: 'unknown', lines: [], ended: [], gone: true });
  sent.pop();
  // No renewal: the lease lapses, the reading is closed and nothing more is sent.
  await clock.advanceAsync(LEASE_MS + 1_000);
  const atStop = sent.length;
  assert.equal(closed(), true);
  await clock.advanceAsync(5_000);
  assert.equal(sent.length, atStop);
});

test("the agent's own log keeps its last lines and follows new ones", async () => {
  const clock = new FakeClock();
  const own = new OwnLog(clock, 100);
  for (let i = 0; i < 30; i++) own.add(`line ${i}`);
  const got: string[] = [];
  const sink: OutputSink = (lines) => {
    got.push(...lines.map((l) => l.x));
    return Promise.resolve();
  };
  await own.read({ follow: false, tail: 2 }, sink).done;
  assert.deepEqual(got, ['line 28', 'line 29'], 'bounded: older lines are gone');
  got.length = 0;
  const r = own.read({ follow: true, tail: 0 }, sink);
  own.add('fresh');
  await waitFor(() => got.includes('fresh'), { what: 'the followed line' });
  r.close();
  await r.done;
});

test('process logs rotate by size and are read whole, oldest first, and followed across a rotation', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-logbook-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const book = new LogBook(dir, systemClock, silentLogger, { maxBytes: 100, files: 3 });
  const file = book.fileOf('t1');
  const write = (from: number, to: number): Promise<void> =>
    fs.appendFile(file, Array.from({ length: to - from }, (_, i) => `n${from + i}\n`).join(''));
  for (let batch = 0; batch < 4; batch++) {
    await write(batch * 30, batch * 30 + 30); // 30 lines of about 4 bytes: over 100 bytes
    await book.check();
  }
  await write(120, 125);
  const names = (await fs.readdir(dir)).sort();
  assert.deepEqual(names, ['t1.log', 't1.log.1', 't1.log.2'], 'three files kept, the oldest gone');
  const got: string[] = [];
  const sink: OutputSink = (lines) => {
    got.push(...lines.map((l) => l.x));
    return Promise.resolve();
  };
  let running = true;
  // Its sleeps hold the test open (the system clock's do not, and nothing else here does).
  const clock = {
    ...systemClock,
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  };
  const src = { book, taskId: 't1', clock, running: () => running };
  await readProcessLog(src, { follow: false }, sink).done;
  const want = Array.from({ length: 65 }, (_, i) => `n${60 + i}`);
  assert.deepEqual(got, want, 'the two copies, then the file');
  got.length = 0;
  await readProcessLog(src, { follow: false, tail: 3 }, sink).done;
  assert.deepEqual(got, ['n122', 'n123', 'n124']);

  got.length = 0;
  const reading = readProcessLog(src, { follow: true, tail: 1 }, sink);
  await waitFor(() => got.length === 1, { what: 'the last line kept' }); // history read: following
  await write(125, 128);
  await waitFor(() => got.length === 4, { what: 'three followed lines' });
  await write(128, 160); // grows past the limit…
  await book.check(); // …and is rotated; the reader finds the rest in the copy
  await write(160, 162);
  await waitFor(() => got.includes('n161'), { what: 'lines after the rotation' });
  assert.deepEqual(
    got,
    Array.from({ length: 38 }, (_, i) => `n${124 + i}`),
  );
  running = false;
  await reading.done; // the task ended and everything was read: the reading ends
});
