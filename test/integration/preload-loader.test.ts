// The agent's loader of preloaded images against the real Docker engine: a removed tag comes back, a corrupt or cut tar is skipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadPreloadedImages } from '../../agent/runtime/docker/preload.js';
import { memoryLogger } from '../../shared/log.js';
import { formatPreloadIndex, type PreloadEntry } from '../../shared/preload-index.js';
import { FLEET, tempDir } from '../helpers/cluster.js';
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../helpers/docker.js';

const run = promisify(execFile);
const PROBE = 'fleet-test/preload-probe:1';
const FILE = 'fleet-test_preload-probe_1.tar';

let dir = '';
let entry: PreloadEntry;
let tar: Buffer;

const exists = async (ref: string): Promise<boolean> =>
  run('docker', ['image', 'inspect', ref]).then(
    () => true,
    () => false,
  );

const untag = (): Promise<unknown> => run('docker', ['rmi', PROBE]).catch(() => undefined);

/** preload/ under `dir` holding `body` as the probe's tar, with the index of the real tar. */
async function bootFolder(body: Buffer): Promise<void> {
  await fs.mkdir(path.join(dir, 'preload'), { recursive: true });
  await fs.writeFile(path.join(dir, 'preload', FILE), body);
  await fs.writeFile(path.join(dir, 'preload', 'index.json'), formatPreloadIndex([entry]));
}

before(async () => {
  dir = tempDir('preload-loader');
});

after(async () => {
  await untag();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test('a saved image whose tag was removed is loaded again, and a second start finds it present', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  await run('docker', ['tag', TEST_IMAGE, PROBE]);
  const saved = path.join(dir, 'saved.tar');
  await run('docker', ['save', '-o', saved, PROBE]);
  tar = await fs.readFile(saved);
  const { stdout: id } = await run('docker', ['image', 'inspect', '-f', '{{.Id}}', PROBE]);
  entry = {
    ref: PROBE,
    file: FILE,
    size: tar.length,
    sha256: createHash('sha256').update(tar).digest('hex'),
    id: id.trim(),
  };
  await untag();
  assert.equal(await exists(PROBE), false);
  await bootFolder(tar);
  const log = memoryLogger();
  const first = await loadPreloadedImages({ dir, log });
  assert.deepEqual(first, { loaded: [PROBE], present: [], skipped: [] });
  assert.equal(await exists(PROBE), true);
  assert.ok(log.lines.some((l) => l.includes('loaded preloaded image fleet-test/preload-probe:1')));
  const second = await loadPreloadedImages({ dir, log: memoryLogger() });
  assert.deepEqual(second, { loaded: [], present: [PROBE], skipped: [] });
});

test('a corrupt or truncated tar is skipped with one line naming it, and nothing is loaded', async (t) => {
  if (!(await requireDocker(t))) return;
  assert.ok(entry, 'the first test saved the probe');
  for (const [what, body, said] of [
    ['corrupt', flipped(tar), /is corrupt: sha256/],
    ['truncated', tar.subarray(0, Math.floor(tar.length / 2)), /is truncated or corrupt/],
  ] as const) {
    await untag();
    await bootFolder(body);
    const log = memoryLogger();
    const r = await loadPreloadedImages({ dir, log });
    const file = path.join(dir, 'preload', FILE);
    assert.deepEqual(r.loaded, [], what);
    assert.equal(r.skipped.length, 1, what);
    assert.equal(r.skipped[0]?.file, file);
    assert.match(r.skipped[0]?.reason ?? '', said);
    const errors = log.lines.filter((l) => l.includes('"error"'));
    assert.equal(errors.length, 1, what);
    assert.ok(errors[0]?.includes(`preloaded image ${file}`), errors[0]);
    assert.equal(await exists(PROBE), false, what);
  }
});

test('no index is no work; a damaged index is one line and no load', async () => {
  const empty = tempDir('preload-none');
  try {
    const log = memoryLogger();
    assert.deepEqual(await loadPreloadedImages({ dir: empty, log }), {
      loaded: [],
      present: [],
      skipped: [],
    });
    assert.deepEqual(log.lines, []);
    await fs.mkdir(path.join(empty, 'preload'));
    await fs.writeFile(path.join(empty, 'preload', 'index.json'), '{"version":1,"images":[{}]}');
    const r = await loadPreloadedImages({ dir: empty, log });
    assert.deepEqual(r.loaded, []);
    assert.equal(log.lines.length, 1);
    assert.match(log.lines[0] ?? '', /index\.json is damaged \(images\.0\.ref/);
  } finally {
    await fs.rm(empty, { recursive: true, force: true });
  }
});

test('agent start --config loads the images beside the file before it joins; the process runtime ignores them', async (t) => {
  if (!(await requireDocker(t))) return;
  assert.ok(entry, 'the first test saved the probe');
  await untag();
  await bootFolder(tar);
  // No manager answers and the token is no token: the start fails at the join, after preloading.
  await fs.writeFile(
    path.join(dir, 'fleet.json'),
    JSON.stringify({ version: 1, managers: ['127.0.0.1:9'], token: 'not-a-token' }),
  );
  const start = (runtime: string) =>
    run(process.execPath, [
      ...[FLEET, 'agent', 'start', '--config', path.join(dir, 'fleet.json')],
      ...['--data-dir', path.join(dir, `data-${runtime}`), '--runtime', runtime, '--insecure'],
    ]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? -1,
        out: (e.stdout ?? '') + (e.stderr ?? ''),
      }),
    );
  const proc = await start('process');
  assert.notEqual(proc.code, 0);
  assert.match(proc.out, /the process runtime ignores preloaded container images/);
  assert.equal(await exists(PROBE), false);
  const docker = await start('docker');
  assert.notEqual(docker.code, 0);
  assert.match(docker.out, /loaded preloaded image fleet-test\/preload-probe:1[\s\S]*join token/);
  assert.equal(await exists(PROBE), true);
});

/** The tar with bytes in its middle inverted, its size unchanged. */
function flipped(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = Math.floor(out.length / 2); i < Math.floor(out.length / 2) + 16; i++) {
    out[i] = (out[i] ?? 0) ^ 0xff;
  }
  return out;
}
