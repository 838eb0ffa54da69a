// Where each node stands in the agent upgrades: the release its assignment carries, and what `node inspect` shows.
import { releaseByVersion } from '../api/release-handlers.js';
import type { AgentRelease } from '../../shared/ota/upgrade-protocol.js';
import type { RolloutNode, RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { StoreView } from '../store/view.js';
import type { NodeUpgradeView } from '../../shared/api.js';
import type { NodeRecord } from '../../shared/spec.js';

/** The newest rollout that asks something of the node, and the node's entry in it. */
export function rolloutOf(
  store: StoreView,
  nodeId: string,
): { rollout: RolloutRecord; entry: RolloutNode } | undefined {
  let found: { rollout: RolloutRecord; entry: RolloutNode } | undefined;
  for (const rollout of store.upgrades()) {
    const entry = rollout.nodes.find((n) => n.nodeId === nodeId);
    if (!entry || (found && found.rollout.createdAt > rollout.createdAt)) continue;
    found = { rollout, entry };
  }
  return found;
}

/**
 * The release a node's assignment carries: its target in the newest rollout that names it, while
 * the node reports another version and the release is stored. Absent otherwise.
 */
export function agentReleaseFor(store: StoreView, nodeId: string): AgentRelease | undefined {
  const node = store.node(nodeId);
  const found = rolloutOf(store, nodeId);
  const target = found?.entry.target;
  if (!node || !found || !target || target === node.agentVersion) return undefined;
  const release = releaseByVersion(store, target);
  if (!release) return undefined;
  return { ...release.manifest, signature: release.signature, rollout: found.rollout.id };
}

/** The node's part in the newest rollout that names it, and what its agent last reported. */
export function nodeUpgradeView(store: StoreView, n: NodeRecord): NodeUpgradeView | null {
  const found = rolloutOf(store, n.id);
  const u = n.agentUpgrade;
  const agent = u ? { state: u.state, version: u.version ?? null, reason: u.reason ?? null } : null;
  if (!found)
    return agent
      ? { rollout: '', release: '', target: null, state: '', reason: null, agent }
      : null;
  const { rollout, entry } = found;
  return {
    rollout: rollout.id,
    release: rollout.release,
    target: entry.target ?? null,
    state: entry.state,
    reason: entry.reason ?? null,
    agent,
  };
}
