// Pure comparisons of a record before and after a write, turned into cluster events with their reasons.
import type { EventDraft } from '../../shared/events.js';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import {
  taskName,
  type NodeRecord,
  type ServiceRecord,
  type TaskRecord,
} from '../../shared/spec.js';

/** What the events of a node are made from, as last seen. */
export interface NodeFacts {
  name: string;
  status: NodeRecord['status'];
  availability: NodeRecord['availability'];
  certSerial: string;
}

export interface TaskFacts {
  state: string;
  desiredState: TaskRecord['desiredState'];
  nodeId: string | null;
}

export interface ServiceFacts {
  name: string;
  specVersion: number;
  update?: { state: string; startedAt: number } | undefined;
}

export interface RolloutFacts {
  state: string;
  startedAt: number;
}

export const nodeFacts = (n: NodeRecord): NodeFacts => ({
  name: n.name,
  status: n.status,
  availability: n.availability,
  certSerial: n.certSerial,
});

export const taskFacts = (t: TaskRecord): TaskFacts => ({
  state: t.status.state,
  desiredState: t.desiredState,
  nodeId: t.nodeId,
});

export const serviceFacts = (s: ServiceRecord): ServiceFacts => ({
  name: s.spec.name,
  specVersion: s.specVersion,
  update: s.updateStatus && { state: s.updateStatus.state, startedAt: s.updateStatus.startedAt },
});

export const rolloutFacts = (r: RolloutRecord): RolloutFacts => ({
  state: r.state,
  startedAt: r.createdAt,
});

/** Node events: joined, left, up, down (with the reason), availability, certificate renewed. */
export function nodeEvents(
  id: string,
  old: NodeFacts | undefined,
  next: NodeRecord | undefined,
  at: number,
): EventDraft[] {
  const ev = (name: string, action: string, attrs: Record<string, string> = {}): EventDraft => ({
    at,
    type: 'node',
    action,
    actor: { id, name },
    attrs,
  });
  if (!next) return old ? [ev(old.name, 'left')] : [];
  const role = { role: next.role };
  if (!old) return [ev(next.name, 'joined', { ...role, address: next.address })];
  const out: EventDraft[] = [];
  if (old.status !== next.status) {
    const action = next.status === 'ready' ? 'up' : next.status;
    const reason = reasonOf(next.statusMessage);
    out.push(ev(next.name, action, { ...reason, previous: old.status }));
  }
  if (old.availability !== next.availability)
    out.push(ev(next.name, next.availability, { previous: old.availability }));
  if (old.certSerial !== next.certSerial && next.prevCertSerial === old.certSerial)
    out.push(ev(next.name, 'certificate renewed', { serial: next.certSerial }));
  return out;
}

/** Task events: created, each state it moves to (with its message or error), stop asked. */
export function taskEvents(
  old: TaskFacts | undefined,
  next: TaskRecord | undefined,
  nodeName: (id: string) => string,
  at: number,
): EventDraft[] {
  if (!next) return [];
  const s = next.status;
  const attrs: Record<string, string> = { service: next.serviceName, serviceId: next.serviceId };
  if (next.nodeId) Object.assign(attrs, { node: nodeName(next.nodeId), nodeId: next.nodeId });
  const reason = s.error ?? s.message;
  if (reason) attrs.reason = reason;
  if (s.exitCode !== null && s.exitCode !== undefined) attrs.exitCode = String(s.exitCode);
  const ev = (action: string, more: Record<string, string> = {}): EventDraft => ({
    at,
    type: 'task',
    action,
    actor: { id: next.id, name: taskName(next) },
    attrs: { ...attrs, ...more },
  });
  if (!old) return [ev('created', { state: s.state })];
  const out: EventDraft[] = [];
  if (old.state !== s.state) out.push(ev(s.state, { previous: old.state }));
  else if (old.nodeId !== next.nodeId && next.nodeId) out.push(ev('placed'));
  if (old.desiredState === 'running' && next.desiredState === 'shutdown')
    out.push(ev('stop requested'));
  return out;
}

/** Service events (created, updated, removed) and its updates' steps (type update). */
export function serviceEvents(
  id: string,
  old: ServiceFacts | undefined,
  next: ServiceRecord | undefined,
  at: number,
): EventDraft[] {
  const ev = (
    type: 'service' | 'update',
    name: string,
    action: string,
    attrs = {},
  ): EventDraft => ({
    at,
    type,
    action,
    actor: { id, name },
    attrs: { service: name, ...attrs },
  });
  if (!next) return old ? [ev('service', old.name, 'removed')] : [];
  const name = next.spec.name;
  const version = { specVersion: String(next.specVersion) };
  if (!old) return [ev('service', name, 'created', version)];
  const out: EventDraft[] = [];
  if (old.specVersion !== next.specVersion) out.push(ev('service', name, 'updated', version));
  const u = next.updateStatus;
  const action = u && updateAction(old.update, { state: u.state, startedAt: u.startedAt });
  if (u && action) {
    const reason = reasonOf(u.message);
    out.push(ev('update', name, action, { ...reason, ...version }));
  }
  return out;
}

/** Agent upgrade rollouts (`fleet node upgrade`): each change of state, with its message. */
export function rolloutEvents(
  old: RolloutFacts | undefined,
  next: RolloutRecord | undefined,
  at: number,
): EventDraft[] {
  if (!next) return [];
  const action = updateAction(old, rolloutFacts(next));
  if (!action) return [];
  const reason = reasonOf(next.message);
  return [
    {
      at,
      type: 'update',
      action: `agent ${action}`,
      actor: { id: next.id, name: `agents to ${next.release}` },
      attrs: { release: next.release, nodes: String(next.nodes.length), ...reason },
    },
  ];
}

/** "update started", "update paused", "rollback started"…, or null when the state did not move. */
export function updateAction(
  old: { state: string; startedAt: number } | undefined,
  next: { state: string; startedAt: number },
): string | null {
  const fresh = !old || old.startedAt !== next.startedAt;
  if (!fresh && old.state === next.state) return null;
  switch (next.state) {
    case 'updating':
      return fresh ? 'update started' : 'update resumed';
    case 'rolling back':
      return 'rollback started';
    case 'rolled back':
      return 'update rolled back';
    case 'rollback paused':
      return 'rollback paused';
    default:
      return `update ${next.state}`;
  }
}

const reasonOf = (message: string): Record<string, string> => (message ? { reason: message } : {});
