// The manager's Prometheus metrics: Raft, broker, tasks and per-node gauges, read from the running parts at scrape time.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TASK_STATES, type NodeRecord, type TaskRecord } from '../../shared/spec.js';
import type { Status } from '../raft/core/types.js';
import { usageMetrics, type UsageMetricsSources } from './usage-metrics.js';

/** What the metrics read; every function is called at scrape time and must be cheap. */
export interface MetricsSources extends UsageMetricsSources {
  managerId: string;
  raft: () => Status;
  /** This manager's applied index (its store's). */
  appliedIndex: () => number;
  broker: () => {
    clients: number;
    messagesIn: number;
    bytesIn: number;
    messagesOut: number;
    bytesOut: number;
    dropped: number;
  };
  nodes: () => Iterable<NodeRecord>;
  tasks: () => Iterable<TaskRecord>;
  services: () => number;
  /** Milliseconds since the node was last heard, on the leader; undefined elsewhere. */
  heartbeatAgeMs: (nodeId: string) => number | undefined;
  /** Log bytes agents sent for followed streams (docs/observe.md, Logs). */
  logBytesIn?: () => number;
}

export interface ManagerMetrics {
  registry: Registry;
  /** A proposal took this long from propose to applied (successful or not). */
  observeProposal(seconds: number): void;
  /** Raft's leader changed (seen by this manager). */
  leaderChanged(): void;
}

/** A counter that mirrors a running total kept elsewhere. */
function mirrored(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): Counter<string> {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function raftMetrics(r: Registry, s: MetricsSources): void {
  gauge(r, 'fleet_raft_term', 'current Raft term', () => s.raft().term);
  gauge(r, 'fleet_raft_commit_index', 'highest log index known committed', () => s.raft().commit);
  gauge(r, 'fleet_raft_apply_index', 'highest log index applied to the store', s.appliedIndex);
  gauge(r, 'fleet_raft_last_index', 'last index in the Raft log', () => s.raft().lastIndex);
  gauge(r, 'fleet_raft_is_leader', '1 on the leader', () => (s.raft().role === 'leader' ? 1 : 0));
  gauge(r, 'fleet_raft_voters', 'voting members', () => s.raft().conf.voters.length);
}

function brokerMetrics(r: Registry, s: MetricsSources): void {
  gauge(r, 'fleet_broker_clients', 'connected MQTT clients', () => s.broker().clients);
  mirrored(r, 'fleet_broker_messages_received_total', 'publishes from clients handled', () => {
    return s.broker().messagesIn;
  });
  mirrored(r, 'fleet_broker_received_bytes_total', 'payload bytes of those publishes', () => {
    return s.broker().bytesIn;
  });
  mirrored(r, 'fleet_broker_messages_sent_total', 'publishes by this manager', () => {
    return s.broker().messagesOut;
  });
  mirrored(r, 'fleet_broker_sent_bytes_total', 'payload bytes of those publishes', () => {
    return s.broker().bytesOut;
  });
  mirrored(r, 'fleet_broker_messages_dropped_total', 'publishes the flood guard dropped', () => {
    return s.broker().dropped;
  });
}

function taskMetrics(r: Registry, s: MetricsSources): void {
  new Gauge({
    name: 'fleet_tasks',
    help: 'tasks in the store by state',
    labelNames: ['state'],
    registers: [r],
    collect() {
      const counts = new Map<string, number>(TASK_STATES.map((st) => [st, 0]));
      for (const t of s.tasks()) counts.set(t.status.state, (counts.get(t.status.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'fleet_tasks_pending',
    help: 'tasks that want to run but have no node yet',
    registers: [r],
    collect() {
      let n = 0;
      for (const t of s.tasks())
        if (t.status.state === 'pending' && t.desiredState === 'running') n++;
      this.set(n);
    },
  });
  gauge(r, 'fleet_services', 'services in the store', s.services);
}

function nodeMetrics(r: Registry, s: MetricsSources): void {
  new Gauge({
    name: 'fleet_node_ready',
    help: '1 when the node is ready, 0 otherwise',
    labelNames: ['node'],
    registers: [r],
    collect() {
      this.reset();
      for (const n of s.nodes()) this.set({ node: n.name }, n.status === 'ready' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fleet_node_info',
    help: 'one series per node with its role, agent version and architecture',
    labelNames: ['node', 'id', 'role', 'agent_version', 'arch'],
    registers: [r],
    collect() {
      this.reset();
      for (const n of s.nodes()) {
        const labels = { node: n.name, id: n.id, role: n.role, arch: n.arch };
        this.set({ ...labels, agent_version: n.agentVersion }, 1);
      }
    },
  });
  new Gauge({
    name: 'fleet_node_heartbeat_age_seconds',
    help: 'time since the node was last heard (leader only)',
    labelNames: ['node'],
    registers: [r],
    collect() {
      this.reset();
      for (const n of s.nodes()) {
        const age = s.heartbeatAgeMs(n.id);
        if (age !== undefined) this.set({ node: n.name }, Math.max(0, age) / 1000);
      }
    },
  });
}

const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export function createManagerMetrics(s: MetricsSources): ManagerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ manager: s.managerId });
  // The process's CPU, memory, file descriptors and event-loop lag, under their usual names.
  collectDefaultMetrics({ register: registry });
  // Gauges whose names end in _total, which Prometheus keeps for counters (promtool says so).
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  raftMetrics(registry, s);
  brokerMetrics(registry, s);
  taskMetrics(registry, s);
  nodeMetrics(registry, s);
  usageMetrics(registry, s);
  const { logBytesIn } = s;
  if (logBytesIn)
    mirrored(registry, 'fleet_logs_received_bytes_total', 'log bytes agents sent', logBytesIn);
  const proposals = new Histogram({
    name: 'fleet_raft_proposal_seconds',
    help: 'time from proposing a change to its being applied on this manager',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const leaderChanges = new Counter({
    name: 'fleet_raft_leader_changes_total',
    help: 'times this manager saw the leader change',
    registers: [registry],
  });
  return {
    registry,
    observeProposal: (seconds) => proposals.observe(seconds),
    leaderChanged: () => leaderChanges.inc(),
  };
}
