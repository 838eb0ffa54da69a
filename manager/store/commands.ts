// The store's commands: every change to cluster state is one of these, applied in one transaction.
import type { ImageRecord } from '../../shared/images/cluster-image.js';
import type { ReleaseRecord } from '../../shared/ota/release-record.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { NetworkRecord } from '../../shared/network.js';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';
import type { StackRecord } from '../../shared/stack.js';
import type { DashboardTokenRecord } from '../../shared/dashboard-token.js';
import type { EventRecord } from '../../shared/events.js';

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

/** A manager of the Raft group: its node id and the HOST:PORT its broker listens on. */
export interface MemberRecord {
  id: string;
  address: string;
}

/** A secret: only its ciphertext under the manager's data key is stored, never the value. */
export interface SecretRecord {
  id: string;
  name: string;
  /** nonce || secretbox(value), base64 (shared/sealing.ts encryptAtRest). */
  encrypted: string;
  size: number;
  labels: Record<string, string>;
  createdAt: number;
}

/** A config: not secret, so the value is stored as it is (base64). */
export interface ConfigRecord {
  id: string;
  name: string;
  data: string;
  size: number;
  labels: Record<string, string>;
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
  | { type: 'tasks.delete'; ids: string[] }
  | { type: 'secret.put'; secret: SecretRecord }
  | { type: 'secret.remove'; id: string }
  | { type: 'config.put'; config: ConfigRecord }
  | { type: 'config.remove'; id: string }
  | { type: 'network.put'; network: NetworkRecord }
  | { type: 'network.remove'; id: string }
  | { type: 'stack.put'; stack: StackRecord }
  | { type: 'stack.remove'; id: string }
  | { type: 'image.put'; image: ImageRecord }
  | { type: 'image.remove'; id: string }
  | { type: 'release.put'; release: ReleaseRecord }
  | { type: 'release.remove'; id: string }
  | { type: 'upgrade.put'; upgrade: RolloutRecord }
  | { type: 'upgrade.remove'; id: string }
  | { type: 'dashboardToken.put'; token: DashboardTokenRecord }
  | { type: 'dashboardToken.remove'; id: string }
  | { type: 'events.put'; events: EventRecord[] }
  | { type: 'events.remove'; ids: string[] };

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
  networks: Set<string>;
  stacks: Set<string>;
  /** Image names whose content was pushed or removed (ids of image records). */
  images: Set<string>;
  /** Agent releases recorded or removed (ids of release records). */
  releases: Set<string>;
  /** Agent upgrade rollouts written or removed (ids of rollout records). */
  upgrades: Set<string>;
  /** Cluster events written (ids of event records; removals by the window are not noted). */
  events: Set<string>;
  cluster: boolean;
}

export function emptyChangeSet(index: number): ChangeSet {
  return {
    index,
    nodes: new Set(),
    services: new Set(),
    tasks: new Set(),
    assignmentNodes: new Set(),
    networks: new Set(),
    stacks: new Set(),
    images: new Set(),
    releases: new Set(),
    upgrades: new Set(),
    events: new Set(),
    cluster: false,
  };
}
