// Views of published ingress ports: their backends and the traffic counters the nodes report.

/** A published ingress port of a service and the tasks taking its connections now. */
export interface PublishedPortView {
  published: number;
  protocol: 'tcp' | 'udp';
  target: number;
  proxy?: 'v1' | 'v2';
  backends: { taskId: string; nodeId: string; host: string; port: number }[];
  /**
   * Traffic through the port as the nodes last reported it. Absent when the answering manager
   * holds no counters (a follower answering a stale read); empty nodes when none reported yet.
   */
  stats?: PortStatsView;
}

/** One task's share of a port's traffic on one node. */
export interface PortTaskStats {
  taskId: string;
  /** "web.2", while the task is known. */
  taskName?: string;
  active: number;
  total: number;
  errors: number;
}

/** A port's counters on one node, since its forwarder opened there. */
export interface PortNodeStats {
  nodeId: string;
  nodeName: string | null;
  /** When the node's report arrived. */
  reportedAt: string;
  /** Open connections (TCP) or flows (UDP). */
  active: number;
  total: number;
  /** Forwardings that failed for the client: no backend, every backend failed, reset mid-stream. */
  errors: number;
  /** Backend connects that failed (refused, unreachable, timed out), failed over or not. */
  connectErrors: number;
  bytesIn: number;
  bytesOut: number;
  tasks: PortTaskStats[];
  /** The node left some tasks out of its report to keep it small. */
  truncated?: boolean;
}

/** A port's counters summed over the nodes, and per node. */
export interface PortStatsView {
  active: number;
  total: number;
  errors: number;
  connectErrors: number;
  nodes: PortNodeStats[];
}
