// The API's agent upgrade methods: start a rollout of a release to chosen nodes, list rollouts, resume, roll back.
import { FleetError, invalidArgument, notFound } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import { compareVersions, type ReleaseRecord } from '../../shared/ota/release-record.js';
import { isMoving, isPaused, type RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { NodeRecord } from '../../shared/spec.js';
import type { Command } from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import { resumed, startRollback } from '../upgrader/rollback.js';
import { hasAgent, matchesLabels, newRollout } from '../upgrader/select.js';
import type { Handler } from './context.js';
import { findNode } from './lookup.js';
import { releaseByVersion } from './release-handlers.js';

type UpgradeMethods = 'upgrade.create' | 'upgrade.ls' | 'upgrade.resume' | 'upgrade.rollback';

/** Rollouts kept for `node upgrade --status` and `ls`; older ones are removed by a new one. */
const KEPT_ROLLOUTS = 20;

export const upgradeHandlers: { [M in UpgradeMethods]: Handler<M> } = {
  'upgrade.create': (p, { store, now }) => {
    const moving = newest(store).find(isMoving);
    if (moving)
      throw new FleetError(
        'conflict',
        `an upgrade to ${moving.release} is under way (${moving.message}): wait for it, or pause it first`,
      );
    const release = p.version ? releaseByVersion(store, p.version) : newestRelease(store);
    if (!release)
      throw p.version
        ? notFound(`agent release ${p.version}`)
        : new FleetError(
            'not_found',
            'no agent release is stored: push one with "fleet agent release push"',
          );
    const nodes = chosenNodes(store, p);
    const rollout = newRollout({
      id: randomId(),
      release: release.manifest.version,
      nodes,
      settings: {
        parallelism: p.parallelism,
        delayMs: p.delayMs,
        monitorMs: p.monitorMs,
        downloadMs: p.downloadMs,
        failureAction: p.failureAction,
        maxFailureRatio: p.maxFailureRatio,
        canary: p.canary,
      },
      now,
    });
    const old = newest(store).slice(KEPT_ROLLOUTS - 1);
    const commands: Command[] = [
      ...old.map((r): Command => ({ type: 'upgrade.remove', id: r.id })),
      { type: 'upgrade.put', upgrade: rollout },
    ];
    return { result: rollout, commands };
  },
  'upgrade.ls': (_p, { store }) => ({ result: newest(store) }),
  'upgrade.resume': (_p, { store, now }) => {
    const r = latest(store);
    if (!isPaused(r))
      throw new FleetError('conflict', `the upgrade to ${r.release} is ${r.state}, not paused`);
    const next = resumed(r, now);
    return { result: next, commands: [{ type: 'upgrade.put', upgrade: next }] };
  },
  'upgrade.rollback': (_p, { store, now }) => {
    const r = structuredClone(latest(store));
    if (r.kind === 'rollback' && r.state !== 'rollback paused')
      throw new FleetError('conflict', `the upgrade to ${r.release} is ${r.state} already`);
    if (r.kind === 'rollback') {
      const next = resumed(r, now);
      return { result: next, commands: [{ type: 'upgrade.put', upgrade: next }] };
    }
    const releases = new Map([...store.releases()].map((x) => [x.manifest.version, x]));
    const refused = startRollback(r, releases, now, 'requested');
    if (refused) throw new FleetError('conflict', `cannot roll back: ${refused}`);
    return { result: r, commands: [{ type: 'upgrade.put', upgrade: r }] };
  },
};

/** Every rollout, the newest first. */
function newest(store: StoreView): RolloutRecord[] {
  return [...store.upgrades()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
}

function latest(store: StoreView): RolloutRecord {
  const r = newest(store)[0];
  if (!r) throw notFound('agent upgrade (none was started)');
  return r;
}

function newestRelease(store: StoreView): ReleaseRecord | undefined {
  return [...store.releases()].sort((a, b) =>
    compareVersions(b.manifest.version, a.manifest.version),
  )[0];
}

/** The nodes named, or every node with an agent (--all), or those with the labels (--filter). */
function chosenNodes(
  store: StoreView,
  p: { nodes: string[]; all: boolean; labels: Record<string, string> },
): NodeRecord[] {
  const filtered = Object.keys(p.labels).length > 0;
  if ([p.nodes.length > 0, p.all, filtered].filter(Boolean).length !== 1)
    throw invalidArgument('name the nodes to upgrade, or give --all, or --filter label=KEY=VALUE');
  if (p.nodes.length > 0) {
    const named = p.nodes.map((ref) => findNode(store, ref));
    const without = named.find((n) => !hasAgent(n));
    if (without)
      throw invalidArgument(
        `node ${without.name} runs no agent (a manager started with --no-worker)`,
      );
    return [...new Map(named.map((n) => [n.id, n])).values()];
  }
  const nodes = [...store.nodes()].filter(
    (n) => hasAgent(n) && (!filtered || matchesLabels(n, p.labels)),
  );
  if (nodes.length === 0) throw notFound('node with an agent matching the filter');
  return nodes;
}
