// Applies a `service update`'s option changes (mounts, devices, limits, restart policy, labels, placement…) to a spec.
import type { OptionsChange } from '../../shared/task-options-change.js';
import type { ServiceSpec, TaskTemplate } from '../../shared/spec.js';

/** The spec with the changes applied; fields left empty are dropped so specs stay minimal. */
export function applyOptionsChange(spec: ServiceSpec, c: OptionsChange | undefined): ServiceSpec {
  if (!c) return spec;
  const t = spec.task;
  const task: TaskTemplate = {
    ...t,
    restart: { ...t.restart, ...defined(c.restart ?? {}) },
    resources: { ...t.resources, ...defined(c.reservations ?? {}) },
  };
  setOrDrop(task, 'readOnly', c.readOnly ?? t.readOnly, (v) => v === false);
  setOrDrop(task, 'privileged', c.privileged ?? t.privileged, (v) => v === false);
  setOrDrop(task, 'tty', c.tty ?? t.tty, (v) => v === false);
  setOrDrop(task, 'registryFallback', c.registryFallback ?? t.registryFallback, (v) => !v);
  setOrDrop(task, 'hostname', c.hostname ?? t.hostname, (v) => v === '');
  setOrDrop(task, 'user', c.user ?? t.user, (v) => v === '');
  setOrDrop(task, 'workdir', c.workdir ?? t.workdir, (v) => v === '');
  setOrDrop(task, 'stopSignal', c.stopSignal ?? t.stopSignal, (v) => v === '');
  const limits = defined({ ...t.limits, ...defined(c.limits ?? {}) });
  if (limits.cpu === 0) delete limits.cpu;
  if (limits.memoryBytes === 0) delete limits.memoryBytes;
  setOrDrop(task, 'limits', limits, (v) => Object.keys(v).length === 0);

  const mounts = (t.mounts ?? []).filter((m) => !c.mountRm.includes(m.target));
  for (const m of c.mountAdd) replaceOrPush(mounts, m, (o) => o.target === m.target);
  setOrDrop(task, 'mounts', mounts, isEmpty);
  const devices = (t.devices ?? []).filter(
    (d) => !c.deviceRm.includes(d.host) && !c.deviceRm.includes(d.container),
  );
  for (const d of c.deviceAdd) replaceOrPush(devices, d, (o) => o.container === d.container);
  setOrDrop(task, 'devices', devices, isEmpty);
  // As in Docker, adding a capability takes it off the dropped list, and the reverse.
  const capAdd = union(minus(t.capAdd, c.capDrop), c.capAdd);
  const capDrop = union(minus(t.capDrop, c.capAdd), c.capDrop);
  setOrDrop(task, 'capAdd', capAdd, isEmpty);
  setOrDrop(task, 'capDrop', capDrop, isEmpty);
  setOrDrop(task, 'groupAdd', union(minus(t.groupAdd, c.groupRm), c.groupAdd), isEmpty);
  setOrDrop(task, 'dns', union(minus(t.dns, c.dnsRm), c.dnsAdd), isEmpty);
  const networks = (t.networks ?? []).filter((n) => !c.networkRm.includes(n.name));
  for (const n of c.networkAdd) replaceOrPush(networks, n, (o) => o.name === n.name);
  setOrDrop(task, 'networks', networks, isEmpty);
  const ulimits = (t.ulimits ?? []).filter((u) => !c.ulimitRm.includes(u.name));
  for (const u of c.ulimitAdd) replaceOrPush(ulimits, u, (o) => o.name === u.name);
  setOrDrop(task, 'ulimits', ulimits, isEmpty);
  setOrDrop(task, 'sysctls', changed(t.sysctls, c.sysctlAdd, c.sysctlRm), isEmptyRecord);
  setOrDrop(
    task,
    'containerLabels',
    changed(t.containerLabels, c.containerLabelAdd, c.containerLabelRm),
    isEmptyRecord,
  );

  const prefs = (spec.placementPrefs ?? []).filter(
    (p) => !c.placementPrefRm.some((r) => r.spread === p.spread),
  );
  for (const p of c.placementPrefAdd) if (!prefs.some((o) => o.spread === p.spread)) prefs.push(p);
  const next: ServiceSpec = {
    ...spec,
    task,
    labels: changed(spec.labels, c.labelAdd, c.labelRm),
    maxReplicasPerNode: c.maxReplicasPerNode ?? spec.maxReplicasPerNode,
  };
  setOrDrop(next, 'placementPrefs', prefs, isEmpty);
  return next;
}

const isEmpty = (v: readonly unknown[]): boolean => v.length === 0;
const isEmptyRecord = (v: Record<string, string>): boolean => Object.keys(v).length === 0;

/** Sets the field, or deletes it when the value is absent or counts as "none". */
function setOrDrop<T extends object, K extends keyof T>(
  target: T,
  key: K,
  value: T[K] | undefined,
  none: (v: NonNullable<T[K]>) => boolean,
): void {
  if (value === undefined || value === null || none(value)) delete target[key];
  else target[key] = value;
}

function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

function replaceOrPush<T>(list: T[], item: T, same: (o: T) => boolean): void {
  const i = list.findIndex(same);
  if (i >= 0) list[i] = item;
  else list.push(item);
}

const minus = (list: readonly string[] | undefined, rm: readonly string[]): string[] =>
  (list ?? []).filter((x) => !rm.includes(x));

function union(list: string[], add: readonly string[]): string[] {
  for (const x of add) if (!list.includes(x)) list.push(x);
  return list;
}

function changed(
  old: Record<string, string> | undefined,
  add: Record<string, string>,
  rm: readonly string[],
): Record<string, string> {
  const out = { ...old, ...add };
  for (const k of rm) delete out[k];
  return out;
}
