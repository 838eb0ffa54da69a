// What controllers and API handlers see of the store: reads, and a subscription to its changes.
import type { NetworkRecord } from '../../shared/network.js';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';
import type { StackRecord } from '../../shared/stack.js';
import type { ImageRecord } from '../../shared/images/cluster-image.js';
import type { ReleaseRecord } from '../../shared/ota/release-record.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { DashboardTokenRecord } from '../../shared/dashboard-token.js';
import type { EventRecord } from '../../shared/events.js';
import type {
  ChangeSet,
  ClusterRecord,
  ConfigRecord,
  MemberRecord,
  Proposal,
  SecretRecord,
} from './commands.js';

/** Read-only view of the state, with change events; nothing here writes. */
export interface StoreView {
  readonly appliedIndex: number;
  cluster(): ClusterRecord | undefined;
  node(id: string): NodeRecord | undefined;
  nodes(): Iterable<NodeRecord>;
  service(id: string): ServiceRecord | undefined;
  serviceByName(name: string): ServiceRecord | undefined;
  services(): Iterable<ServiceRecord>;
  task(id: string): TaskRecord | undefined;
  tasks(): Iterable<TaskRecord>;
  tasksOfService(serviceId: string): TaskRecord[];
  tasksOfNode(nodeId: string): TaskRecord[];
  requestResponse(key: string): unknown;
  /** The managers of the Raft group and where each listens. */
  members(): MemberRecord[];
  secret(id: string): SecretRecord | undefined;
  secretByName(name: string): SecretRecord | undefined;
  secrets(): Iterable<SecretRecord>;
  config(id: string): ConfigRecord | undefined;
  configByName(name: string): ConfigRecord | undefined;
  configs(): Iterable<ConfigRecord>;
  networkByName(name: string): NetworkRecord | undefined;
  networks(): Iterable<NetworkRecord>;
  stackByName(name: string): StackRecord | undefined;
  stacks(): Iterable<StackRecord>;
  /** Images the cluster stores itself, one record per name (id: a hash of the name). */
  image(id: string): ImageRecord | undefined;
  images(): Iterable<ImageRecord>;
  /** Signed agent releases, one record per version. */
  releases(): Iterable<ReleaseRecord>;
  /** Agent upgrade rollouts (`fleet node upgrade`), one record each. */
  upgrades(): Iterable<RolloutRecord>;
  /** Dashboard sign-in tokens (their hashes), by id. */
  dashboardToken(id: string): DashboardTokenRecord | undefined;
  dashboardTokens(): Iterable<DashboardTokenRecord>;
  /** Cluster events kept in the window, and one of them by id (shared/events.ts eventId). */
  events(): Iterable<EventRecord>;
  event(id: string): EventRecord | undefined;
  /** Calls `listener` after every applied proposal or restore; returns the unsubscribe. */
  onChange(listener: (c: ChangeSet) => void): () => void;
}

/** How leader-only parts write: a proposal through Raft, resolved once applied here. */
export type Propose = (p: Proposal) => Promise<ChangeSet>;
