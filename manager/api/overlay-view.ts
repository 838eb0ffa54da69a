// A store view with a batch's pending records laid over it, so checks within one proposal see each other's writes.
import type { ImageRecord } from '../../shared/images/cluster-image.js';
import type { ReleaseRecord } from '../../shared/ota/release-record.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { EventRecord } from '../../shared/events.js';
import type { NetworkRecord } from '../../shared/network.js';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';
import type { StackRecord } from '../../shared/stack.js';
import type {
  ChangeSet,
  ClusterRecord,
  ConfigRecord,
  MemberRecord,
  SecretRecord,
} from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import type { DashboardTokenRecord } from '../../shared/dashboard-token.js';

/** Records by id: a pending put, or null for a pending removal. */
type Pending<T> = Map<string, T | null>;

function merged<T extends { id: string }>(base: Iterable<T>, pending: Pending<T>): T[] {
  const out: T[] = [];
  for (const r of base) if (!pending.has(r.id)) out.push(r);
  for (const r of pending.values()) if (r) out.push(r);
  return out;
}

export class OverlayView implements StoreView {
  private readonly pendingServices: Pending<ServiceRecord> = new Map();
  private readonly pendingSecrets: Pending<SecretRecord> = new Map();
  private readonly pendingConfigs: Pending<ConfigRecord> = new Map();
  private readonly pendingNetworks: Pending<NetworkRecord> = new Map();

  constructor(private readonly base: StoreView) {}

  putService(s: ServiceRecord): void {
    this.pendingServices.set(s.id, s);
  }
  removeService(id: string): void {
    this.pendingServices.set(id, null);
  }
  putSecret(s: SecretRecord): void {
    this.pendingSecrets.set(s.id, s);
  }
  putConfig(c: ConfigRecord): void {
    this.pendingConfigs.set(c.id, c);
  }
  putNetwork(n: NetworkRecord): void {
    this.pendingNetworks.set(n.id, n);
  }

  get appliedIndex(): number {
    return this.base.appliedIndex;
  }
  cluster(): ClusterRecord | undefined {
    return this.base.cluster();
  }
  node(id: string): NodeRecord | undefined {
    return this.base.node(id);
  }
  nodes(): Iterable<NodeRecord> {
    return this.base.nodes();
  }
  service(id: string): ServiceRecord | undefined {
    const p = this.pendingServices.get(id);
    return p === undefined ? this.base.service(id) : (p ?? undefined);
  }
  serviceByName(name: string): ServiceRecord | undefined {
    return this.services().find((s) => s.spec.name === name);
  }
  services(): ServiceRecord[] {
    return merged(this.base.services(), this.pendingServices);
  }
  task(id: string): TaskRecord | undefined {
    return this.base.task(id);
  }
  tasks(): Iterable<TaskRecord> {
    return this.base.tasks();
  }
  tasksOfService(serviceId: string): TaskRecord[] {
    return this.base.tasksOfService(serviceId);
  }
  tasksOfNode(nodeId: string): TaskRecord[] {
    return this.base.tasksOfNode(nodeId);
  }
  requestResponse(key: string): unknown {
    return this.base.requestResponse(key);
  }
  members(): MemberRecord[] {
    return this.base.members();
  }
  secret(id: string): SecretRecord | undefined {
    return this.secrets().find((s) => s.id === id);
  }
  secretByName(name: string): SecretRecord | undefined {
    return this.secrets().find((s) => s.name === name);
  }
  secrets(): SecretRecord[] {
    return merged(this.base.secrets(), this.pendingSecrets);
  }
  config(id: string): ConfigRecord | undefined {
    return this.configs().find((c) => c.id === id);
  }
  configByName(name: string): ConfigRecord | undefined {
    return this.configs().find((c) => c.name === name);
  }
  configs(): ConfigRecord[] {
    return merged(this.base.configs(), this.pendingConfigs);
  }
  networkByName(name: string): NetworkRecord | undefined {
    return this.networks().find((n) => n.name === name);
  }
  networks(): NetworkRecord[] {
    return merged(this.base.networks(), this.pendingNetworks);
  }
  stackByName(name: string): StackRecord | undefined {
    return this.base.stackByName(name);
  }
  stacks(): Iterable<StackRecord> {
    return this.base.stacks();
  }
  image(id: string): ImageRecord | undefined {
    return this.base.image(id);
  }
  images(): Iterable<ImageRecord> {
    return this.base.images();
  }
  releases(): Iterable<ReleaseRecord> {
    return this.base.releases();
  }
  upgrades(): Iterable<RolloutRecord> {
    return this.base.upgrades();
  }
  dashboardToken(id: string): DashboardTokenRecord | undefined {
    return this.base.dashboardToken(id);
  }
  dashboardTokens(): Iterable<DashboardTokenRecord> {
    return this.base.dashboardTokens();
  }
  events(): Iterable<EventRecord> {
    return this.base.events();
  }
  event(id: string): EventRecord | undefined {
    return this.base.event(id);
  }
  onChange(listener: (c: ChangeSet) => void): () => void {
    return this.base.onChange(listener);
  }
}
