// The record kinds the store keeps, one declaration each: table, columns, lookups, changes.
import { z } from 'zod';
import type { NetworkRecord } from '../../shared/network.js';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';
import type { StackRecord } from '../../shared/stack.js';
import type { ImageRecord } from '../../shared/images/cluster-image.js';
import type { ReleaseRecord } from '../../shared/ota/release-record.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import type { DashboardTokenRecord } from '../../shared/dashboard-token.js';
import type { EventRecord } from '../../shared/events.js';
import type { ConfigRecord, SecretRecord } from './commands.js';
import type { KindSpec, StoredRecord } from './table.js';

const withId = z.object({ id: z.string() }).loose();
const named = z.object({ id: z.string(), name: z.string() }).loose();
const nameColumn = {
  name: 'name',
  sql: 'TEXT NOT NULL UNIQUE',
  of: (r: { name: string }) => r.name,
};

const nodes: KindSpec<NodeRecord> = {
  table: 'nodes',
  columns: [],
  put: 'replace',
  versioned: (n) => `node ${n.id}`,
  frame: withId,
  touch: (ch, id) => void ch.nodes.add(id),
};

const services: KindSpec<ServiceRecord> = {
  table: 'services',
  columns: [{ name: 'name', sql: 'TEXT NOT NULL UNIQUE', of: (s) => s.spec.name }],
  put: 'update',
  versioned: (s) => `service ${s.spec.name}`,
  frame: z.object({ id: z.string(), spec: z.object({ name: z.string() }).loose() }).loose(),
  touch: (ch, id) => void ch.services.add(id),
};

const tasks: KindSpec<TaskRecord> = {
  table: 'tasks',
  columns: [
    { name: 'service_id', sql: 'TEXT NOT NULL', of: (t) => t.serviceId },
    { name: 'node_id', sql: 'TEXT', of: (t) => t.nodeId },
  ],
  put: 'replace',
  schemaExtra: ['CREATE INDEX IF NOT EXISTS tasks_service ON tasks(service_id);'],
  lookups: { service: (t) => t.serviceId, node: (t) => t.nodeId },
  versioned: (t) => `task ${t.id}`,
  frame: z.object({ id: z.string(), serviceId: z.string(), nodeId: z.string().nullable() }).loose(),
  touch(ch, id, old, next) {
    // A removed task that was not there changes nothing.
    const t = next ?? old;
    if (!t) return;
    if (old?.nodeId) ch.assignmentNodes.add(old.nodeId);
    if (next?.nodeId) ch.assignmentNodes.add(next.nodeId);
    ch.tasks.add(id);
    ch.services.add(t.serviceId);
  },
};

const secrets: KindSpec<SecretRecord> = {
  table: 'secrets',
  columns: [nameColumn],
  put: 'update',
  frame: named,
  touch: () => undefined,
};

const configs: KindSpec<ConfigRecord> = {
  table: 'configs',
  columns: [nameColumn],
  put: 'update',
  frame: named,
  touch: () => undefined,
};

const networks: KindSpec<NetworkRecord> = {
  table: 'networks',
  columns: [nameColumn],
  put: 'update',
  frame: named,
  touch: (ch, id) => void ch.networks.add(id),
};

const stacks: KindSpec<StackRecord> = {
  table: 'stacks',
  columns: [nameColumn],
  put: 'update',
  versioned: (s) => `stack ${s.name}`,
  frame: named,
  touch: (ch, id) => void ch.stacks.add(id),
};

const images: KindSpec<ImageRecord> = {
  table: 'images',
  columns: [nameColumn],
  put: 'replace',
  frame: named,
  touch: (ch, id) => void ch.images.add(id),
};

const releases: KindSpec<ReleaseRecord> = {
  table: 'releases',
  columns: [{ name: 'version', sql: 'TEXT NOT NULL UNIQUE', of: (r) => r.manifest.version }],
  put: 'update',
  frame: z.object({ id: z.string(), manifest: z.object({ version: z.string() }).loose() }).loose(),
  touch: (ch, id) => void ch.releases.add(id),
};

const upgrades: KindSpec<RolloutRecord> = {
  table: 'upgrades',
  columns: [],
  put: 'replace',
  versioned: (r) => `upgrade ${r.id}`,
  frame: withId,
  touch: (ch, id) => void ch.upgrades.add(id),
};

// Read only when a dashboard request or a metrics scrape presents a token: no change to follow.
const dashboardTokens: KindSpec<DashboardTokenRecord> = {
  table: 'dashboardTokens',
  columns: [nameColumn],
  put: 'replace',
  frame: named,
  touch: () => undefined,
};

/** Cluster events (`fleet events`), kept for a window the leader prunes (manager/events/). */
const events: KindSpec<EventRecord> = {
  table: 'events',
  columns: [],
  put: 'replace',
  frame: z.object({ id: z.string(), seq: z.number(), at: z.number() }).loose(),
  touch: (ch, id, _old, next) => void (next && ch.events.add(id)),
};

/**
 * Every kind, in the order of the schema and of a dump. A new kind is one declaration here plus
 * its commands (commands.ts, effects.ts) and its reads (view.ts).
 */
export const KINDS = {
  nodes,
  services,
  tasks,
  secrets,
  configs,
  networks,
  stacks,
  images,
  releases,
  upgrades,
  dashboardTokens,
  events,
};

export type KindName = keyof typeof KINDS;
export type RecordOf<K extends KindName> = (typeof KINDS)[K] extends KindSpec<infer T> ? T : never;
export const KIND_NAMES = Object.keys(KINDS) as KindName[];

/** A kind's declaration with its record type erased, for code that handles every kind alike. */
export function kindSpec(kind: KindName): KindSpec<StoredRecord> {
  return KINDS[kind] as unknown as KindSpec<StoredRecord>;
}
