// `fleet image push --file` with bad input: clear errors, nothing recorded, and a full manager disk that resumes once freed.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ImageView } from '../../shared/api.js';
import {
  cli,
  cliJson,
  cliOk,
  startManager,
  stopProc,
  tempDir,
  type CliResult,
  type ManagerProc,
} from '../helpers/cluster.js';
import { layerTar, ociArchive, tarFromFiles } from '../helpers/image-archives.js';
import { sha256, tarBuffer } from '../helpers/tar-writer.js';
import { fillDisk, freeDisk, mountTmpfs, unmount } from '../helpers/tmpfs.js';

const NAME = 'example/bad:1';

/**
 * A docker save archive (before Docker 25) of NAME: a small base layer and one of `bigBytes`
 * random bytes. `tamper` changes one byte of the big layer after the config named its diff ID.
 */
function saveArchive(opts: { bigBytes: number; tamper?: boolean }): Buffer {
  const layers = [
    layerTar('bin/sh', 'base'),
    tarBuffer([{ name: 'big', data: randomBytes(opts.bigBytes) }]),
  ];
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'arm64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map(sha256) },
    }),
  );
  const configName = `${sha256(config).slice(7)}.json`;
  const big = layers[1];
  assert.ok(big);
  if (opts.tamper) big[1024] = (big[1024] ?? 0) ^ 0xff;
  const names = ['1'.repeat(64), '2'.repeat(64)].map((d) => `${d}/layer.tar`);
  return tarBuffer([
    ...layers.map((data, i) => ({ name: names[i] ?? '', data })),
    { name: configName, data: config },
    {
      name: 'manifest.json',
      data: Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [NAME], Layers: names }])),
    },
  ]);
}

async function writeFile(dir: string, name: string, data: Buffer): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, data);
  return file;
}

const push = (m: ManagerProc, file: string): Promise<CliResult> =>
  cli(m, ['image', 'push', '--file', file]);

/** A refused push: non-zero, one clear line naming the file and the problem, no image recorded. */
async function assertRefused(m: ManagerProc, file: string, problem: RegExp): Promise<string> {
  const r = await push(m, file);
  assert.notEqual(r.code, 0, `push of ${path.basename(file)} succeeded: ${r.stdout}`);
  const escaped = file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  assert.match(r.stderr, new RegExp(`cannot push ${escaped}: `), r.stderr);
  assert.match(r.stderr, problem, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
  assert.deepEqual(await cliJson<ImageView[]>(m, ['image', 'ls']), [], 'no image recorded');
  return r.stderr;
}

describe('image push of bad input', () => {
  const dir = tempDir('push-bad');
  let m: ManagerProc | undefined;
  const manager = (): ManagerProc => {
    assert.ok(m, 'the manager started');
    return m;
  };
  before(async () => {
    m = await startManager({ host: '127.0.40.1' });
  });
  after(async () => {
    if (m) await stopProc(m.proc);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('refuses a file that is not a tar, an empty file and a tar without a manifest', async () => {
    const text = await writeFile(
      dir,
      'notes.txt',
      Buffer.from('hello, this is not a tar\n'.repeat(40)),
    );
    await assertRefused(manager(), text, /not a tar archive/);
    const empty = await writeFile(dir, 'empty.tar', Buffer.alloc(0));
    await assertRefused(manager(), empty, /not a tar archive/);
    const plain = await writeFile(
      dir,
      'plain.tar',
      tarBuffer([{ name: 'etc/hostname', data: Buffer.from('board\n') }]),
    );
    await assertRefused(manager(), plain, /not an image archive: no manifest\.json or index\.json/);
    const missing = await push(manager(), path.join(dir, 'no-such.tar'));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /cannot read .*no-such\.tar/);
  });

  it('refuses an archive cut in the middle of a layer', async () => {
    const whole = saveArchive({ bigBytes: 512 * 1024 });
    // The big layer is the second entry and most of the archive: the middle falls inside it.
    const cut = await writeFile(dir, 'cut.tar', whole.subarray(0, Math.floor(whole.length / 2)));
    const err = await assertRefused(manager(), cut, /truncated archive: /);
    assert.match(err, /2{64}\/layer\.tar should hold \d+ bytes but the archive ends after \d+/);
  });

  it('refuses an OCI layout whose blob does not match its digest', async () => {
    const oci = ociArchive();
    const layer = oci.platforms[0]?.layers[1];
    assert.ok(layer);
    const blobPath = `blobs/sha256/${layer.digest.slice(7)}`;
    const bytes = Buffer.from(oci.files.get(blobPath) ?? Buffer.alloc(0));
    assert.ok(bytes.length > 0);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    oci.files.set(blobPath, bytes);
    const file = await writeFile(dir, 'altered-oci.tar', tarFromFiles(oci.files));
    await assertRefused(
      manager(),
      file,
      new RegExp(`digest mismatch for ${blobPath.replace(/\//g, '\\/')}: got sha256:`),
    );
  });

  it('refuses a docker save archive whose layer does not match the diff ID its config names', async () => {
    const file = await writeFile(
      dir,
      'altered-save.tar',
      saveArchive({ bigBytes: 64 * 1024, tamper: true }),
    );
    await assertRefused(
      manager(),
      file,
      /layer 2 of the linux\/arm64 image \(2{64}\/layer\.tar\) does not match the diff ID its config names/,
    );
  });

  it('pushes a good archive, then a second push of it uploads nothing', async () => {
    const file = await writeFile(dir, 'good.tar', saveArchive({ bigBytes: 600 * 1024 }));
    const first = await push(manager(), file);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /example\/bad:1: digest: sha256:[0-9a-f]{64}/);
    assert.match(first.stderr, /[1-9]\d* blob\(s\) uploaded/);
    const ls = await cliJson<ImageView[]>(manager(), ['image', 'ls']);
    assert.deepEqual(
      ls.map((i) => i.name),
      [NAME],
    );
    const again = await push(manager(), file);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /: 0 blob\(s\) uploaded \(0 ?B\), \d+ already in the fleet/);
  });

  it('says an unknown image is not found, and refuses to remove one a service uses', async () => {
    const unknown = await cli(manager(), ['image', 'rm', 'example/nothing:9']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no such image|not found/i);
    assert.match(unknown.stderr, /example\/nothing:9/);
    // No agent: the service exists, its task waits for a node.
    await cliOk(manager(), ['service', 'create', '--name', 'user', '--detach', NAME]);
    const inUse = await cli(manager(), ['image', 'rm', NAME]);
    assert.notEqual(inUse.code, 0, 'an image in use was removed');
    assert.match(inUse.stderr, /image example\/bad:1 is in use by service user/);
    const ls = await cliJson<ImageView[]>(manager(), ['image', 'ls']);
    assert.deepEqual(
      ls.map((i) => i.name),
      [NAME],
      'still there',
    );
  });
});

test(
  "a push that fills the manager's disk fails clearly, records nothing, and resumes once space is freed",
  { timeout: 120_000 },
  async (t) => {
    const dataDir = tempDir('mgr-push-full');
    const files = tempDir('push-full-files');
    const procs: { manager?: ManagerProc } = {};
    let mounted = false;
    t.after(async () => {
      if (procs.manager) await stopProc(procs.manager.proc);
      if (mounted) await unmount(dataDir);
      await fs.rm(dataDir, { recursive: true, force: true });
      await fs.rm(`${dataDir}.log`, { force: true });
      await fs.rm(files, { recursive: true, force: true });
    });
    mounted = await mountTmpfs(t, dataDir, '16m');
    if (!mounted) return;
    const m = await startManager({ dataDir, host: '127.0.40.2' });
    procs.manager = m;
    const file = await writeFile(files, 'big.tar', saveArchive({ bigBytes: 6 * 1024 * 1024 }));

    // Leave 1 MiB free: the first chunks of the big layer fit, the rest does not.
    const filler = fillDisk(dataDir);
    const { size } = await fs.stat(filler);
    await fs.truncate(filler, size - 1024 * 1024);

    const full = await push(m, file);
    assert.notEqual(full.code, 0, `a push onto a full disk succeeded: ${full.stdout}`);
    assert.match(full.stderr, /cannot push example\/bad:1: the manager's disk is full/);
    assert.doesNotMatch(full.stderr, /\n\s+at /, `no stack trace: ${full.stderr}`);
    assert.equal(m.proc.exitCode, null, 'the manager survived the full disk');
    assert.deepEqual(await cliJson<ImageView[]>(m, ['image', 'ls']), [], 'no image recorded');

    await freeDisk(filler);
    const resumed = await push(m, file);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resumed after \d/, `the push resumed: ${resumed.stderr}`);
    const ls = await cliJson<ImageView[]>(m, ['image', 'ls']);
    assert.deepEqual(
      ls.map((i) => i.name),
      [NAME],
    );
  },
);
