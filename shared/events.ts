// Cluster events (`fleet events`): the record kept in the store, its types and the filters that select events.
import { z } from 'zod';

/**
 * What an event is about. node: up, down, joined, left, availability, certificate renewed;
 * task: state changes with their reasons; service: created, updated, removed; update: service
 * updates and agent upgrade rollouts (started, paused, rolled back…); manager: leader changes.
 */
export const EVENT_TYPES = ['node', 'task', 'service', 'update', 'manager'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One event, as the leader wrote it to the store and as `fleet events --format json` prints it. */
export interface FleetEvent {
  /** Increases by one per event across the cluster's life, through leader changes. */
  seq: number;
  /** When the leader learned the fact, in milliseconds since the epoch. */
  at: number;
  type: EventType;
  /** What happened: "down", "orphaned", "update paused", "leader elected"… */
  action: string;
  /** The object it happened to: a node, task, service, rollout or manager. */
  actor: { id: string; name: string };
  /** More about it, like Docker's actor attributes: reason, node, service, state… */
  attrs: Record<string, string>;
}

/** An event as the store keeps it: its id orders as its sequence does. */
export interface EventRecord extends FleetEvent {
  id: string;
}

/** The store id of the event with this sequence number ("ev-000000000042"). */
export const eventId = (seq: number): string => `ev-${String(seq).padStart(12, '0')}`;

/** An event before the leader numbers it. */
export type EventDraft = Omit<FleetEvent, 'seq'>;

/** The --filter keys: each given key must match, any of its values may (as in Docker). */
export const eventFiltersSchema = z
  .object({
    type: z.array(z.enum(EVENT_TYPES)).max(16).default([]),
    node: z.array(z.string().min(1).max(128)).max(64).default([]),
    service: z.array(z.string().min(1).max(128)).max(64).default([]),
  })
  .strict()
  .default({ type: [], node: [], service: [] });
export type EventFilters = z.output<typeof eventFiltersSchema>;
export const EVENT_FILTER_KEYS = ['type', 'node', 'service'] as const;

/**
 * An event's attributes as people read them, as Docker prints them: ids left out, the reason
 * last, in parentheses (" (service=web, reason=node down)"); empty without any.
 */
export function describeAttrs(e: FleetEvent): string {
  const attrs = Object.entries(e.attrs).filter(([k]) => !k.endsWith('Id') && k !== 'reason');
  if (e.attrs.reason !== undefined) attrs.push(['reason', e.attrs.reason]);
  return attrs.length > 0 ? ` (${attrs.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
}

/** Whether an event passes the filters: nodes and services match by name or id. */
export function eventMatches(e: FleetEvent, f: EventFilters): boolean {
  if (f.type.length > 0 && !f.type.includes(e.type)) return false;
  if (f.node.length > 0 && !f.node.some((n) => nodeOf(e).includes(n))) return false;
  if (f.service.length > 0 && !f.service.some((s) => serviceOf(e).includes(s))) return false;
  return true;
}

/** The names and ids of the node an event concerns. */
function nodeOf(e: FleetEvent): string[] {
  const own = e.type === 'node' ? [e.actor.id, e.actor.name] : [];
  return [...own, e.attrs.node, e.attrs.nodeId].filter((v): v is string => v !== undefined);
}

function serviceOf(e: FleetEvent): string[] {
  const own = e.type === 'service' ? [e.actor.id, e.actor.name] : [];
  return [...own, e.attrs.service, e.attrs.serviceId].filter((v): v is string => v !== undefined);
}
