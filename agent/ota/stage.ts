// Puts a signed agent release beside the running one (ota/releases/<version>/), verified before it lands.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import {
  RELEASE_BUNDLE,
  RELEASE_MANIFEST,
  compareVersions,
  nodeSatisfies,
  semverSchema,
  verifyRelease,
  type ReleaseManifest,
} from '../../shared/ota/release.js';
import { otaDir, syncDir } from './ota-state-file.js';

/** A release refused: the message says why, for the log and the report to the manager. */
export class StageError extends Error {
  override readonly name = 'StageError';
}
export const isStageError = (e: unknown): e is StageError => e instanceof StageError;

export const releasesDir = (dataDir: string): string => path.join(otaDir(dataDir), 'releases');
export const releaseDir = (dataDir: string, version: string): string => {
  if (!semverSchema.safeParse(version).success) throw new StageError(`bad version "${version}"`);
  return path.join(releasesDir(dataDir), version);
};

export interface StageOptions {
  dataDir: string;
  /** The cluster's root key (identity.rootPub): only releases it signed are staged. */
  rootPub: string;
  /** The signed manifest as received (validated here). */
  release: unknown;
  /** The bundle: a file to copy, or its bytes. */
  bundle: { file: string } | { bytes: Uint8Array };
  /** The version running now (AGENT_VERSION); an older release is refused unless allowDowngrade. */
  runningVersion: string;
  allowDowngrade?: boolean;
  /** Defaults to process.version. */
  nodeVersion?: string;
}

export interface Staged {
  manifest: ReleaseManifest;
  dir: string;
  /** The same release was staged already; nothing was written. */
  already: boolean;
}

/**
 * Checks the signature, the Node.js requirement and the version order, writes the bundle into a
 * temporary directory while hashing it, checks size and sha256, and renames the directory into
 * place: a release directory either is complete and verified or does not exist.
 */
export async function stageRelease(o: StageOptions): Promise<Staged> {
  const manifest = checkManifest(o);
  const dir = releaseDir(o.dataDir, manifest.version);
  const signed = JSON.stringify(o.release, null, 2) + '\n';
  if ((await fs.readFile(path.join(dir, RELEASE_MANIFEST), 'utf8').catch(() => '')) === signed)
    return { manifest, dir, already: true };
  const parent = releasesDir(o.dataDir);
  await fs.mkdir(parent, { recursive: true, mode: 0o700 });
  const tmp = path.join(parent, `.staging-${manifest.version}-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(tmp, { mode: 0o700 });
  try {
    const { sha256, size } = await writeBundle(
      path.join(tmp, RELEASE_BUNDLE),
      o.bundle,
      manifest.size,
    );
    checkBytes(manifest, sha256, size);
    await writeSynced(path.join(tmp, RELEASE_MANIFEST), signed);
    syncDir(tmp);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(tmp, dir);
    syncDir(parent);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  return { manifest, dir, already: false };
}

/**
 * Re-checks a staged release from disk as the supervisor does before running it: the manifest's
 * signature, the Node.js requirement and the bundle's size and sha256. Returns the bundle path.
 */
export async function verifyStaged(
  dataDir: string,
  version: string,
  rootPub: string,
  nodeVersion = process.version,
): Promise<{ manifest: ReleaseManifest; bundle: string }> {
  const dir = releaseDir(dataDir, version);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(path.join(dir, RELEASE_MANIFEST), 'utf8'));
  } catch (e) {
    throw new StageError(`release ${version} is not staged (${(e as Error).message})`);
  }
  const manifest = checkManifest({
    release: raw,
    rootPub,
    nodeVersion,
    runningVersion: version,
    allowDowngrade: true,
  });
  if (manifest.version !== version)
    throw new StageError(`ota/releases/${version} holds release ${manifest.version}`);
  const bundle = path.join(dir, RELEASE_BUNDLE);
  const { sha256, size } = await hashFile(bundle).catch((e: Error) => {
    throw new StageError(`release ${version} has no readable bundle (${e.message})`);
  });
  checkBytes(manifest, sha256, size);
  return { manifest, bundle };
}

/** Removes release directories (and interrupted stagings) that the state no longer names. */
export async function removeUnusedReleases(dataDir: string, keep: Set<string>): Promise<string[]> {
  const names = await fs.readdir(releasesDir(dataDir)).catch(() => [] as string[]);
  const gone = names.filter((n) => !keep.has(n));
  for (const n of gone)
    await fs.rm(path.join(releasesDir(dataDir), n), { recursive: true, force: true });
  return gone;
}

function checkManifest(
  o: Pick<
    StageOptions,
    'release' | 'rootPub' | 'runningVersion' | 'allowDowngrade' | 'nodeVersion'
  >,
): ReleaseManifest {
  const v = verifyRelease(o.release, o.rootPub);
  if (!v.ok) throw new StageError(v.reason);
  const m = v.manifest;
  const node = o.nodeVersion ?? process.version;
  if (!nodeSatisfies(m.nodeMin, node))
    throw new StageError(
      `release ${m.version} needs Node.js ${m.nodeMin} or newer; this board has ${node}`,
    );
  if (semverSchema.safeParse(o.runningVersion).success && !o.allowDowngrade) {
    const order = compareVersions(m.version, o.runningVersion);
    if (order === 0) throw new StageError(`release ${m.version} is the version running now`);
    if (order < 0)
      throw new StageError(
        `release ${m.version} is older than the running ${o.runningVersion} (a downgrade must be asked for)`,
      );
  }
  return m;
}

function checkBytes(m: ReleaseManifest, sha256: string, size: number): void {
  if (size !== m.size)
    throw new StageError(
      `release ${m.version}: the bundle has ${size} bytes, the manifest says ${m.size}`,
    );
  if (sha256 !== m.sha256)
    throw new StageError(
      `release ${m.version}: the bundle's sha256 ${sha256} is not the signed ${m.sha256}`,
    );
}

/** Writes the bundle (never more than `limit` bytes), fsyncs it, and returns its hash and size. */
async function writeBundle(
  file: string,
  from: StageOptions['bundle'],
  limit: number,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const fh = await fs.open(file, 'w', 0o755);
  try {
    const chunks: AsyncIterable<Uint8Array> | Uint8Array[] =
      'bytes' in from ? [from.bytes] : (createReadStream(from.file) as AsyncIterable<Uint8Array>);
    for await (const chunk of chunks) {
      size += chunk.length;
      if (size > limit) throw new StageError(`the bundle is larger than the signed ${limit} bytes`);
      hash.update(chunk);
      await fh.write(chunk);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), size };
}

async function writeSynced(file: string, text: string): Promise<void> {
  const fh = await fs.open(file, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    hash.update(chunk);
  }
  return { sha256: hash.digest('hex'), size };
}
