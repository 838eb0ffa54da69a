// Each node's link profile as the dispatcher applies it (assignment timing, health bounds), and its restart marks.
import { nodeLinkTiming, type AssignmentLink, type LinkTiming } from '../../shared/link-profile.js';
import { takesTasks, type NodeRecord } from '../../shared/spec.js';
import type { Command } from '../store/commands.js';
import { workerClientId } from '../../shared/worker.js';
import type { NodeHealthTiming } from './health.js';

export interface NodeLinksDeps {
  node(nodeId: string): NodeRecord | undefined;
  /** The cluster's heartbeat period (the default profile's). */
  heartbeatMs: number;
  /** Whether an MQTT client id is connected to this manager's broker. */
  isConnected(clientId: string): boolean;
}

export class NodeLinks {
  constructor(private readonly deps: NodeLinksDeps) {}

  timing(nodeId: string): LinkTiming {
    return nodeLinkTiming(this.deps.node(nodeId) ?? {}, this.deps.heartbeatMs);
  }

  /**
   * What the node's assignment says of its link. A metered node gets its keepalive period as
   * heartbeatMs: an agent that predates profiles beats that seldom instead of every 2 s.
   */
  assignmentFields(nodeId: string): { heartbeatMs: number; link: AssignmentLink } {
    const t = this.timing(nodeId);
    return {
      heartbeatMs: t.heartbeatMs > 0 ? t.heartbeatMs : t.keepaliveS * 1000,
      link: { profile: t.profile, keepaliveS: t.keepaliveS },
    };
  }

  /** The health bounds of nodes that do not beat (metered); undefined: the tracker's own. */
  healthTiming(nodeId: string): NodeHealthTiming | undefined {
    const t = this.timing(nodeId);
    if (t.heartbeatMs > 0) return undefined;
    return { silenceMs: t.detectionMs, dropGraceMs: t.dropGraceMs };
  }

  /**
   * A node without heartbeats is heard as long as its agent's connection stands: the broker
   * drops a client silent for 1.5 keepalive periods, so a live connection is a live agent.
   */
  heardByConnection(n: NodeRecord): boolean {
    if (this.timing(n.id).heartbeatMs > 0) return false;
    return this.deps.isConnected(n.role === 'manager' ? workerClientId(n.id) : n.id);
  }
}

/** After a lone manager restarts, nodes recorded ready are unknown until heard from again. */
export function unknownAfterRestart(nodes: Iterable<NodeRecord>, now: number): Command[] {
  return [...nodes]
    .filter((n) => n.status === 'ready' && takesTasks(n))
    .map((n): Command => ({
      type: 'node.put',
      node: { ...n, status: 'unknown', statusMessage: 'manager restarted', updatedAt: now },
    }));
}
