// The streaming tar writer: what it writes reads back with the archive reader and with tar(1), long names and all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  headerBlocks,
  tarChunks,
  tarSize,
  type TarSource,
} from '../../shared/image-archive/tar-writer.js';
import { scanTar } from '../../shared/image-archive/tar-reader.js';
import { sha256 } from '../helpers/tar-writer.js';

const run = promisify(execFile);

async function collect(entries: TarSource[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of tarChunks(entries)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** Yields `data` in small uneven pieces, as a file stream would in larger ones. */
function pieces(data: Buffer, size = 1000): () => AsyncIterable<Uint8Array> {
  return async function* () {
    for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
  };
}

const big = randomBytes(70_001);
const json = Buffer.from(JSON.stringify([{ Config: 'c.json' }]));
const prefixName = `${'d'.repeat(120)}/${'f'.repeat(90)}`; // fits ustar's prefix + name
const paxName = `${'x'.repeat(130)}-no-slash-to-split-at-${'y'.repeat(40)}`; // needs pax
const entries: TarSource[] = [
  { kind: 'file', name: 'manifest.json', size: json.length, body: json },
  { kind: 'directory', name: 'abc' },
  { kind: 'file', name: 'abc/layer.tar', size: big.length, body: pieces(big) },
  { kind: 'file', name: prefixName, size: 3, body: Buffer.from('abc') },
  { kind: 'file', name: paxName, size: 512, body: Buffer.alloc(512, 7) },
  { kind: 'file', name: 'empty', size: 0, body: Buffer.alloc(0) },
];

test('an archive round-trips through scanTar: names, sizes, digests, kept JSON', async () => {
  const archive = await collect(entries);
  assert.equal(archive.length % 512, 0);
  assert.equal(archive.length, tarSize(entries));
  const files = await scanTar(once(archive), (name) => name.endsWith('.json'));
  assert.deepEqual(
    files.map((f) => [f.name, f.size]),
    [
      ['manifest.json', json.length],
      ['abc/layer.tar', big.length],
      [prefixName, 3],
      [paxName, 512],
      ['empty', 0],
    ],
  );
  assert.equal(files[1]?.digest, sha256(big));
  assert.equal(files[3]?.digest, sha256(Buffer.alloc(512, 7)));
  assert.deepEqual(files[0]?.data, json);
});

test('tar(1) lists and extracts the archive with the same names and bytes', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-tarw-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'a.tar');
  await fs.writeFile(file, await collect(entries));
  const { stdout } = await run('tar', ['-tf', file]);
  assert.deepEqual(stdout.trim().split('\n'), [
    'manifest.json',
    'abc/',
    'abc/layer.tar',
    prefixName,
    paxName,
    'empty',
  ]);
  const out = path.join(dir, 'x');
  await fs.mkdir(out);
  await run('tar', ['-xf', file, '-C', out]);
  assert.deepEqual(await fs.readFile(path.join(out, 'abc/layer.tar')), big);
  assert.equal(await fs.readFile(path.join(out, prefixName), 'utf8'), 'abc');
});

test('a source that gives fewer or more bytes than its size fails the stream', async () => {
  const short: TarSource = { kind: 'file', name: 's', size: 10, body: pieces(Buffer.alloc(9)) };
  await assert.rejects(collect([short]), /tar entry s should hold 10 bytes but its source gave 9/);
  const long: TarSource = { kind: 'file', name: 'l', size: 10, body: pieces(Buffer.alloc(11), 4) };
  await assert.rejects(collect([long]), /should hold 10 bytes but its source gave at least 11/);
  const buf: TarSource = { kind: 'file', name: 'b', size: 2, body: Buffer.alloc(3) };
  await assert.rejects(collect([buf]), /should hold 2 bytes/);
});

test('a size past 8 GiB goes into a pax size record', async () => {
  const size = 9 * 1024 ** 3;
  const header = headerBlocks('huge.tar', size, '0');
  assert.equal(header.length, 3 * 512, 'pax header, its record block, the entry header');
  // scanTar reads the headers and then reports the body as missing: the size came through.
  await assert.rejects(
    scanTar(once(header), () => false),
    new RegExp(`huge.tar should hold ${size} bytes`),
  );
});
