// The store's commands: every change to cluster state is one of these, applied in one transaction.
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';

export interface ClusterRecord {
  id: string;
  rootPub: string;
  /** The root signing key; only managers hold it. */
  rootSecret: string;
  workerToken: string;
  managerToken: string;
  heartbeatMs: number;
  createdAt: number;
}

export type Command =
  | { type: 'cluster.init'; cluster: ClusterRecord }
  | { type: 'cluster.tokens'; workerToken: string; managerToken: string }
  | { type: 'node.put'; node: NodeRecord }
  | { type: 'node.remove'; id: string }
  | { type: 'service.put'; service: ServiceRecord }
  | { type: 'service.remove'; id: string }
  | { type: 'tasks.put'; tasks: TaskRecord[] }
  | { type: 'tasks.delete'; ids: string[] };

/** A batch of commands applied atomically, optionally answering a client request exactly once. */
export interface Proposal {
  commands: Command[];
  /** The client's idempotency key: a retried request finds the stored response. */
  request?: { key: string; response: unknown };
}

export interface ChangeSet {
  index: number;
  nodes: Set<string>;
  services: Set<string>;
  tasks: Set<string>;
  /** Nodes whose assigned tasks changed (old and new node of a moved task). */
  assignmentNodes: Set<string>;
  cluster: boolean;
}
