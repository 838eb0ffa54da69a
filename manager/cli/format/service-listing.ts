// The columns, template fields and filters of `fleet service ls`, `service ps` and `node ps`, in Docker's order and names.
import type { ServiceView, TaskView } from '../../../shared/api.js';
import {
  bySlotThenNewest,
  capitalize,
  formatBytes,
  formatPorts,
  relativeTime,
  shortId,
} from '../format.js';
import { idMatches, labelMatches, type Listing } from './listing.js';
import { REGISTRY_FALLBACK_NOTE } from '../../../shared/images/cluster-image.js';

/** Docker's columns (ID NAME MODE REPLICAS IMAGE PORTS), then fleet's UPDATE. */
export const serviceListing: Listing<ServiceView> = {
  columns: [
    { header: 'ID', field: 'ID' },
    { header: 'NAME', field: 'Name' },
    { header: 'MODE', field: 'Mode' },
    { header: 'REPLICAS', field: 'Replicas' },
    { header: 'IMAGE', field: 'Image' },
    { header: 'PORTS', field: 'Ports' },
    { header: 'UPDATE', field: 'UpdateStatus' },
  ],
  extraFields: ['Labels'],
  rows: (services, { noTrunc }) =>
    [...services]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => ({
        ID: noTrunc ? s.id : shortId(s.id),
        Name: s.name,
        Mode: s.mode,
        Replicas: replicasText(s.replicas),
        Image: s.image,
        Ports: formatPorts(s.ports),
        UpdateStatus: s.updateStatus?.state ?? '',
        Labels: s.labels ?? {},
      })),
  filters: {
    id: (s, v) => idMatches(s.id, v),
    name: (s, v) => s.name.startsWith(v),
    label: (s, v) => labelMatches(s.labels ?? {}, v),
    mode: (s, v) => s.mode === v,
  },
};

/** "3/3", or for a job Docker's "1/1 (3/5 completed)". */
export function replicasText(r: ServiceView['replicas']): string {
  const counts = `${r.running}/${r.desired}`;
  if (r.completed === undefined) return counts;
  return `${counts} (${r.completed}/${r.completions ?? r.desired} completed)`;
}

/** Docker's `service ps` columns: ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR PORTS. */
export const taskListing: Listing<TaskView> = {
  columns: [
    { header: 'ID', field: 'ID' },
    { header: 'NAME', field: 'Name' },
    { header: 'IMAGE', field: 'Image' },
    { header: 'NODE', field: 'Node' },
    { header: 'DESIRED STATE', field: 'DesiredState' },
    { header: 'CURRENT STATE', field: 'CurrentState' },
    { header: 'ERROR', field: 'Error' },
    { header: 'PORTS', field: 'Ports' },
  ],
  extraFields: ['Service', 'Slot', 'Health', 'Restarts', 'CPU', 'Mem'],
  rows: (tasks, { noTrunc }) => {
    // Newest task of each slot first, older ones under it marked "\_", as docker service ps does.
    const sorted = [...tasks].sort(
      (a, b) => a.service.localeCompare(b.service) || bySlotThenNewest(a, b),
    );
    return sorted.map((t, i) => ({
      ID: noTrunc ? t.id : shortId(t.id),
      Name: i > 0 && sorted[i - 1]?.name === t.name ? ` \\_ ${t.name}` : t.name,
      Image: t.image,
      Node: t.nodeName ?? t.node ?? '',
      DesiredState: capitalize(t.desiredState),
      CurrentState: `${capitalize(t.state)}${healthNote(t)}${sourceNote(t)} ${relativeTime(t.updatedAt)}${downloadNote(t)}`,
      Error: t.error ?? (t.state === 'pending' || t.state === 'rejected' ? t.message : ''),
      Ports: t.hostPorts
        .map((p) => `${p.hostIp || '*'}:${p.hostPort}->${p.target}/${p.protocol}`)
        .join(', '),
      Service: t.service,
      Slot: String(t.slot),
      Health: t.health,
      Restarts: String(t.restarts),
      CPU: t.usage ? `${(t.usage.cpu * 100).toFixed(1)}%` : '',
      Mem: t.usage ? formatBytes(t.usage.mem) : '',
    }));
  },
  filters: {
    id: (t, v) => idMatches(t.id, v),
    name: (t, v) => t.name.startsWith(v),
    node: (t, v) => t.node === v || t.nodeName === v || (t.node ?? '').startsWith(v),
    'desired-state': (t, v) => (v === 'accepted' ? t.state === 'accepted' : t.desiredState === v),
  },
};

/** `service ps --stats`: the same, with the CPU (100% is one core) and memory its node last reported. */
export const taskStatsListing: Listing<TaskView> = {
  ...taskListing,
  columns: [
    ...taskListing.columns,
    { header: 'CPU', field: 'CPU' },
    { header: 'MEM', field: 'Mem' },
  ],
};

/** " (healthy)", " (draining)" and the like, after the state of a running task. */
function healthNote(t: TaskView): string {
  if (t.state !== 'running') return '';
  if (t.message === 'draining') return ' (draining)';
  return t.health === 'none' ? '' : ` (${t.health})`;
}

/** " (from registry)" on a task whose registry stood in for the fleet's copy of its image. */
function sourceNote(t: TaskView): string {
  return t.state === 'running' && t.message.includes(REGISTRY_FALLBACK_NOTE)
    ? ' (from registry)'
    : '';
}

/** " (next image 41%)" on a task whose node is downloading the image an update will run. */
function downloadNote(t: TaskView): string {
  const d = t.download;
  if (!d) return '';
  if (d.state === 'loaded') return ` (${d.image} ready)`;
  if (d.state === 'failed') return ` (${d.image} download failed)`;
  return ` (${d.image} ${d.total > 0 ? Math.floor((100 * d.bytes) / d.total) : 0}%)`;
}
