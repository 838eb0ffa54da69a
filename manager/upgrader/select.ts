// A new rollout from the nodes a user named (or --all, or a label filter): which nodes, in which order, from which versions.
import {
  DEFAULT_ROLLOUT_SETTINGS,
  type RolloutNode,
  type RolloutRecord,
  type RolloutSettings,
} from '../../shared/ota/rollout-record.js';
import { takesTasks, type NodeRecord } from '../../shared/spec.js';

export interface RolloutRequest {
  id: string;
  release: string;
  /** The nodes chosen, each with an agent (a manager without a worker beside it has none). */
  nodes: NodeRecord[];
  settings: Partial<RolloutSettings>;
  now: number;
}

/**
 * The rollout record to store: workers by name, then managers by name; a node that runs the
 * release already is skipped. Settings not given take the defaults.
 */
export function newRollout(req: RolloutRequest): RolloutRecord {
  const order = [...req.nodes].sort(
    (a, b) =>
      Number(a.role === 'manager') - Number(b.role === 'manager') || a.name.localeCompare(b.name),
  );
  const nodes = order.map((n): RolloutNode => {
    const entry: RolloutNode = {
      nodeId: n.id,
      name: n.name,
      manager: n.role === 'manager',
      from: n.agentVersion,
      state: 'pending',
    };
    if (n.agentVersion !== req.release) return entry;
    return {
      ...entry,
      state: 'skipped',
      reason: `runs ${req.release} already`,
      target: req.release,
    };
  });
  const defined = Object.fromEntries(
    Object.entries(req.settings).filter(([, v]) => v !== undefined),
  ) as Partial<RolloutSettings>;
  return {
    id: req.id,
    release: req.release,
    kind: 'upgrade',
    state: 'updating',
    message: `upgrading ${nodes.filter((n) => n.state === 'pending').length} node(s) to ${req.release}`,
    settings: { ...DEFAULT_ROLLOUT_SETTINGS, ...defined },
    nodes,
    failures: 0,
    promoted: false,
    createdAt: req.now,
    updatedAt: req.now,
  };
}

/** The nodes a rollout can take: those that run an agent. */
export const hasAgent = (n: NodeRecord): boolean => takesTasks(n);

/** Whether a node carries every label of the filter (KEY=VALUE pairs). */
export function matchesLabels(n: NodeRecord, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => n.labels[k] === v);
}
