// What the dashboard shows, as compact rows built from the store and the leader's live figures (no I/O).
import type { TaskRecord } from '../../shared/spec.js';
import type { UsageBookView } from '../observe/usage-book.js';
import type { StoreView } from '../store/view.js';
import { serviceView } from '../api/views.js';

export type { NodeRow, ServiceRow, SeriesSample, TaskRow } from './rows.js';
import type { NodeRow, ServiceRow, SeriesSample, TaskRow } from './rows.js';

export interface ModelInputs {
  store: StoreView;
  /** The leader's live figures; a follower has none. */
  usage: () => UsageBookView | undefined;
  heartbeatAge: (nodeId: string) => number | undefined;
}

export function nodeRows(m: ModelInputs): NodeRow[] {
  const { store } = m;
  const book = m.usage();
  const wanted = new Map<string, number>();
  for (const t of store.tasks())
    if (t.nodeId && t.desiredState === 'running')
      wanted.set(t.nodeId, (wanted.get(t.nodeId) ?? 0) + 1);
  const rows: NodeRow[] = [];
  for (const n of store.nodes()) {
    const u = book?.node(n.id)?.node;
    rows.push({
      id: n.id,
      name: n.name,
      role: n.role,
      status: n.status,
      msg: n.statusMessage,
      avail: n.availability,
      addr: n.address,
      arch: n.arch,
      ver: n.agentVersion,
      engine: n.engineVersion ?? '',
      tasks: wanted.get(n.id) ?? 0,
      cpu: u ? Math.round(u.cpu * 100) : null,
      temp: u?.tempC !== undefined ? Math.round(u.tempC * 2) / 2 : null,
    });
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

export function serviceRows(store: StoreView): ServiceRow[] {
  const rows: ServiceRow[] = [];
  for (const s of store.services()) {
    const v = serviceView(store, s);
    const u = v.updateStatus;
    const moving =
      u && (u.state === 'updating' || u.state === 'canary' || u.state === 'rolling back');
    rows.push({
      id: v.id,
      name: v.name,
      mode: v.mode,
      image: v.image,
      running: v.replicas.running,
      desired: v.replicas.desired,
      update: u ? `${u.kind} ${u.state}${u.message ? `: ${u.message}` : ''}` : null,
      progress: moving ? currentSpecProgress(store.tasksOfService(s.id), s.specVersion) : null,
    });
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

export function taskRows(store: StoreView, nodeId: string): TaskRow[] {
  return store
    .tasksOfNode(nodeId)
    .map((t) => ({
      id: t.id,
      service: store.service(t.serviceId)?.spec.name ?? t.serviceId,
      slot: t.slot,
      node: t.nodeId,
      state: t.status.state,
      desired: t.desiredState,
      msg: t.status.message,
    }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.slot - b.slot);
}

export function seriesSample(m: ModelInputs, now: number): SeriesSample {
  let running = 0;
  let pending = 0;
  for (const t of m.store.tasks()) {
    if (t.desiredState !== 'running') continue;
    if (t.status.state === 'running') running++;
    else if (t.status.state === 'pending' || t.status.state === 'new') pending++;
  }
  const lags: number[] = [];
  for (const n of m.store.nodes()) {
    // A manager without an agent beside it sends no heartbeats.
    if (n.status !== 'ready' || (n.manager && !n.manager.worker)) continue;
    const age = m.heartbeatAge(n.id);
    if (age !== undefined) lags.push(age);
  }
  lags.sort((a, b) => a - b);
  return {
    t: now,
    running,
    pending,
    lagP50: lags.length > 0 ? (lags[Math.floor(lags.length / 2)] ?? null) : null,
    lagMax: lags.length > 0 ? (lags[lags.length - 1] ?? null) : null,
  };
}

function currentSpecProgress(tasks: TaskRecord[], specVersion: number): string {
  const wanted = tasks.filter((t) => t.desiredState === 'running');
  const done = wanted.filter(
    (t) => t.specVersion === specVersion && t.status.state === 'running',
  ).length;
  return `${done}/${wanted.length}`;
}
