// The API's agent-release methods: record and sign a pushed bundle once its blob is here, list, remove.
import type { ReleaseView } from '../../shared/api.js';
import { FleetError, notFound } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import {
  compareVersions,
  releaseDigest,
  signManifest,
  type ReleaseManifest,
  type ReleaseRecord,
} from '../../shared/ota/release-record.js';
import type { StoreView } from '../store/store.js';
import { isMoving, isPaused, type RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { Handler, HandlerContext } from './context.js';

type ReleaseMethods = 'release.create' | 'release.ls' | 'release.rm';

export const releaseHandlers: { [M in ReleaseMethods]: Handler<M> } = {
  'release.create': (p, ctx) => {
    const old = releaseByVersion(ctx.store, p.version);
    if (old) {
      if (old.manifest.sha256 !== p.sha256 || old.manifest.size !== p.size) {
        throw new FleetError(
          'conflict',
          `agent release ${p.version} is already recorded with other content (sha256 ${old.manifest.sha256.slice(0, 12)}): give the new bundle another version, or remove the old release first`,
        );
      }
      return { result: { ...releaseView(ctx, old), created: false } };
    }
    const digest = releaseDigest(p);
    if (!ctx.blobs?.has(digest)) {
      throw new FleetError(
        'unavailable',
        `manager ${ctx.managerId} does not hold the bundle ${digest} (the leader changed during the push?): push again`,
      );
    }
    const cluster = ctx.store.cluster();
    if (!cluster) throw new FleetError('unavailable', 'cluster is not initialised');
    const manifest: ReleaseManifest = {
      version: p.version,
      nodeMin: p.nodeMin,
      sha256: p.sha256,
      size: p.size,
      createdAt: ctx.now,
    };
    const release: ReleaseRecord = {
      id: randomId(),
      manifest,
      signature: signManifest(manifest, cluster.rootSecret),
      ...(p.protocolVersion !== undefined ? { protocolVersion: p.protocolVersion } : {}),
      pushedTo: ctx.managerId,
    };
    return {
      result: { ...releaseView(ctx, release), created: true },
      commands: [{ type: 'release.put', release }],
    };
  },
  'release.ls': (_p, ctx) => ({
    result: [...ctx.store.releases()]
      .sort((a, b) => compareVersions(b.manifest.version, a.manifest.version))
      .map((r) => releaseView(ctx, r)),
  }),
  'release.rm': (p, ctx) => {
    const release = releaseByVersion(ctx.store, p.version);
    if (!release) throw notFound(`agent release ${p.version}`);
    const rollout = rolloutNeeding(ctx.store, p.version);
    if (rollout && !p.force)
      throw new FleetError(
        'conflict',
        `agent release ${p.version} is needed by the agent upgrade to ${rollout.release} (${rollout.state}): let it finish, or use --force`,
      );
    const running = nodesRunning(ctx.store, release);
    if (running.length > 0 && !p.force) {
      const plural = running.length > 1 ? 's' : '';
      throw new FleetError(
        'conflict',
        `agent release ${p.version} runs on node${plural} ${running.join(', ')}: upgrade ${running.length > 1 ? 'them' : 'it'} first, or use --force`,
      );
    }
    return {
      result: { id: release.id, version: release.manifest.version },
      commands: [{ type: 'release.remove', id: release.id }],
    };
  },
};

export function releaseByVersion(store: StoreView, version: string): ReleaseRecord | undefined {
  for (const r of store.releases()) if (r.manifest.version === version) return r;
  return undefined;
}

/** A rollout under way or paused that moves nodes to the version, or could send them back to it. */
function rolloutNeeding(store: StoreView, version: string): RolloutRecord | undefined {
  return [...store.upgrades()].find(
    (r) =>
      (isMoving(r) || isPaused(r)) &&
      (r.release === version || r.nodes.some((n) => n.from === version && n.state !== 'skipped')),
  );
}

/** Names of the nodes whose agent reports the release's version, sorted. */
function nodesRunning(store: StoreView, release: ReleaseRecord): string[] {
  return [...store.nodes()]
    .filter((n) => n.agentVersion === release.manifest.version)
    .map((n) => n.name)
    .sort();
}

function releaseView(ctx: HandlerContext, r: ReleaseRecord): ReleaseView {
  return {
    id: r.id,
    version: r.manifest.version,
    nodeMin: r.manifest.nodeMin,
    sha256: r.manifest.sha256,
    size: r.manifest.size,
    createdAt: new Date(r.manifest.createdAt).toISOString(),
    signature: r.signature,
    protocolVersion: r.protocolVersion ?? null,
    nodes: nodesRunning(ctx.store, r),
    pushedTo: r.pushedTo,
    stored: ctx.blobs?.has(releaseDigest(r.manifest)) === true,
  };
}
