// Applies a bundle on a board: every check first (signature, cluster, expiry, target, downgrade, each entry's hash), then images, agent release, tasks.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { platformArch } from '../../shared/arch.js';
import { copyEntries, isBundleFormatError, readBundleHead } from '../../shared/bundle/container.js';
import { AGENT_ENTRY, blobEntry, type BundleManifest } from '../../shared/bundle/manifest.js';
import { checkBundle } from '../../shared/bundle/verify.js';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { readJsonFile } from '../../shared/atomic-file.js';
import { identitySchema, type Identity } from '../../shared/identity.js';
import type { ClusterPlatformImage } from '../../shared/images/cluster-image.js';
import { compareVersions, nodeSatisfies, verifyRelease } from '../../shared/ota/release.js';
import { FLEET_VERSION } from '../../shared/version.js';
import { loadClusterImage } from '../images/load-image.js';
import { beginSwitch } from '../ota/ota-state.js';
import { loadState, saveState } from '../ota/ota-state-file.js';
import { stageRelease } from '../ota/stage.js';
import { bundleAssignedTasks } from './overlay.js';
import {
  readBundleState,
  readSavedBoardFacts,
  writeBundleState,
  type BundleState,
} from './state.js';

/** A bundle the board will not take; nothing was changed. The message starts "bundle refused: ". */
export class BundleRefused extends Error {
  override readonly name = 'BundleRefused';
  constructor(reason: string) {
    super(`bundle refused: ${reason}`);
  }
}
export const isBundleRefused = (e: unknown): e is BundleRefused => e instanceof BundleRefused;

export interface ApplyOptions {
  file: string;
  dataDir: string;
  clock: Clock;
  /** The engine images are loaded into; null on a board without Docker (images are skipped). */
  docker: Docker | null;
  /** The version the board's agent runs (a bundle's older release is not installed). */
  runningVersion?: string;
  /**
   * Asks the supervisor of the running agent to switch to the staged release now (throws when
   * refused). Without it the switch is recorded for the supervisor's next start.
   */
  requestSwitch?: (version: string) => Promise<void>;
}

export interface Applied {
  manifest: BundleManifest;
  state: BundleState;
  /** Images loaded into the engine, by name. */
  images: string[];
  /** The agent release the board switches to. */
  agentVersion: string | null;
  /** Why the switch to it could not be made or recorded (the rest of the bundle is applied). */
  agentError?: string;
}

/** Verifies the whole bundle into a staging folder, and only then changes the board. */
export async function applyBundle(o: ApplyOptions): Promise<Applied> {
  const identity = await readIdentity(o.dataDir);
  const facts = await readSavedBoardFacts(o.dataDir);
  const previous = await readBundleState(o.dataDir);
  const opened = await readBundleHead(o.file).catch(refuseFormat);
  const check = checkBundle(opened.raw, {
    rootPub: identity.rootPub,
    nodeId: identity.id,
    ...(facts.name !== undefined ? { nodeName: facts.name } : {}),
    labels: facts.labels,
    now: o.clock.now(),
    ...(previous ? { applied: previous.applied } : {}),
  });
  if (!check.ok) throw new BundleRefused(check.reason);
  const m = check.manifest;
  const running = o.runningVersion ?? FLEET_VERSION;
  const upgrade = m.agent ? agentToInstall(m, identity.rootPub, running) : null;
  const platforms = o.docker ? await platformsFor(o.docker, m) : [];
  const staging = await fs.mkdtemp(path.join(o.dataDir, '.bundle-staging-'));
  try {
    const staged = (name: string): string => path.join(staging, name.replace('/', '_'));
    await copyEntries(o.file, opened, m.entries, (e) => staged(e.name)).catch(refuseFormat);
    for (const { name, platform } of platforms)
      await loadClusterImage({
        docker: o.docker as Docker,
        clock: o.clock,
        image: platform,
        name,
        blobPath: (digest) => staged(blobEntry(digest)),
      });
    if (upgrade) {
      const file = staged(AGENT_ENTRY);
      const release = { dataDir: o.dataDir, rootPub: identity.rootPub, release: m.agent };
      await stageRelease({ ...release, bundle: { file }, runningVersion: running });
    }
    const state: BundleState = {
      v: 1,
      applied: { id: m.id, sequence: m.sequence, appliedAt: o.clock.now() },
      pending: {
        signed: check.signed,
        tasks: bundleAssignedTasks(m, identity.id),
        serviceIds: m.services.map((s) => s.id),
      },
    };
    await writeBundleState(o.dataDir, state);
    const images = platforms.map((p) => p.name);
    const result: Applied = { manifest: m, state, images, agentVersion: upgrade };
    if (upgrade)
      await (o.requestSwitch ?? ((v) => switchAtStart(o.dataDir, v)))(upgrade).catch(
        (e: unknown) => (result.agentError = errorMessage(e)),
      );
    return result;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

function refuseFormat(e: unknown): never {
  if (isBundleFormatError(e)) throw new BundleRefused(e.message);
  if ((e as NodeJS.ErrnoException).code === 'ENOENT')
    throw new BundleRefused(`no such file: ${(e as NodeJS.ErrnoException).path ?? ''}`);
  throw e;
}

async function readIdentity(dataDir: string): Promise<Identity> {
  const file = path.join(dataDir, 'identity.json');
  const r = identitySchema.safeParse(await readJsonFile(file));
  if (!r.success)
    throw new BundleRefused(`${file} holds no identity: this board has not joined a cluster`);
  return r.data;
}

/** The release's version when the board should switch to it; null when it runs it already. */
function agentToInstall(m: BundleManifest, rootPub: string, running: string): string | null {
  const v = verifyRelease(m.agent, rootPub);
  if (!v.ok) throw new BundleRefused(v.reason);
  const { version, nodeMin } = v.manifest;
  if (!nodeSatisfies(nodeMin, process.version))
    throw new BundleRefused(
      `agent ${version} needs Node.js ${nodeMin}; this board has ${process.version}`,
    );
  const order = compareVersions(version, running);
  if (order < 0)
    throw new BundleRefused(`agent ${version} is older than the agent ${running} this board runs`);
  return order === 0 ? null : version;
}

/** Each image's platform for this engine's architecture; refused when one has none. */
async function platformsFor(
  docker: Docker,
  m: BundleManifest,
): Promise<{ name: string; platform: ClusterPlatformImage }[]> {
  if (m.images.length === 0) return [];
  let arch: string;
  try {
    arch = platformArch(String((await docker.version()).Arch));
  } catch (e) {
    throw new BundleRefused(`the Docker engine does not answer: ${errorMessage(e)}`);
  }
  return m.images.map((image) => {
    const platform = image.platforms.find((p) => p.os === 'linux' && p.architecture === arch);
    if (!platform)
      throw new BundleRefused(
        `image ${image.name} has no linux/${arch} platform (it has ${image.platforms.map((p) => `${p.os}/${p.architecture}`).join(', ')})`,
      );
    return { name: image.name, platform };
  });
}

/** Marks the switch to a staged release, which the supervisor makes when it next starts the agent. */
async function switchAtStart(dataDir: string, version: string): Promise<void> {
  const { state } = loadState(dataDir);
  if (state.trial?.version === version) return;
  if (state.trial) throw new Error(`a switch to agent ${state.trial.version} is under way`);
  saveState(dataDir, beginSwitch(state, version));
}
