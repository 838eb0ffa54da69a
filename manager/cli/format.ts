// Output for people: plain aligned tables of nodes, services and tasks, relative times, progress.
import type { PublishedPortView, ServiceDetail, TaskView } from '../../shared/api.js';
import { TERMINAL_STATES, type PortSpec } from '../../shared/spec.js';

/** Gap between columns, as in docker's tabular output. */
const GAP = '   ';

/** Renders rows under headers as plain left-aligned columns with no borders. */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    headers
      .map((_, i) =>
        i === headers.length - 1 ? (cells[i] ?? '') : (cells[i] ?? '').padEnd(widths[i] ?? 0),
      )
      .join(GAP)
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  process.stdout.write(renderTable(headers, rows));
}

/** Pretty JSON on stdout, like docker inspect. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Ids are shown shortened in tables, as docker does. */
export const shortId = (id: string): string => id.slice(0, 12);

/** "5 seconds ago", "About a minute ago", "3 hours ago"; a time in the future counts as now. */
export function relativeTime(at: string | number, now = Date.now()): string {
  const then = typeof at === 'number' ? at : Date.parse(at);
  if (Number.isNaN(then)) return '';
  return `${humanDuration(Math.max(0, now - then))} ago`;
}

function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (s < 1) return 'Less than a second';
  if (s < 60) return plural(s, 'second');
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return plural(m, 'minute');
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return plural(h, 'hour');
  const d = Math.round(h / 24);
  if (d < 14) return plural(d, 'day');
  if (d < 60) return plural(Math.round(d / 7), 'week');
  if (d < 730) return plural(Math.round(d / 30), 'month');
  return plural(Math.round(d / 365), 'year');
}

/** Milliseconds as the short form the flags accept: 300000 -> "5m", 1500 -> "1.5s", 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const parts: string[] = [];
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (h) parts.push(`${h}h`);
  if (m) parts.push(`${m}m`);
  if (s) parts.push(`${s}s`);
  return parts.join('');
}

/** Published ports as docker service ls shows them: "*:8080->80/tcp", or "80/tcp" when unpublished. */
export function formatPorts(ports: readonly PortSpec[]): string {
  return ports
    .map((p) => {
      const target = `${p.target}/${p.protocol}`;
      if (p.published === undefined) return target;
      return `*:${p.published}->${target}${p.mode === 'host' ? ' (host)' : ''}`;
    })
    .join(', ');
}

/** "running" -> "Running", for the CURRENT STATE column. */
export const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Redraws a block of lines in place on a terminal, or prints only the lines that changed elsewhere. */
export class ProgressPrinter {
  private drawn = 0;
  private readonly last = new Map<string, string>();

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
  ) {}

  /** `lines` maps a stable key (a task name, "overall") to its current text. */
  update(lines: ReadonlyMap<string, string>): void {
    if (this.out.isTTY) this.redraw([...lines.values()]);
    else this.printChanged(lines);
  }

  private redraw(lines: readonly string[]): void {
    // A line that wraps would throw off the cursor movement, so each is cut to the width.
    const width = Math.max(20, (this.out.columns ?? 80) - 1);
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    const body = lines.map((l) => `\x1b[2K${l.slice(0, width)}\n`).join('');
    this.out.write(`${up}${body}\x1b[J`);
    this.drawn = lines.length;
  }

  private printChanged(lines: ReadonlyMap<string, string>): void {
    for (const [key, text] of lines) {
      if (this.last.get(key) === text) continue;
      this.last.set(key, text);
      this.out.write(text + '\n');
    }
  }
}

const TERMINAL: ReadonlySet<string> = TERMINAL_STATES;

/** One line per task name: its desired-running task's state and why it is not running yet. */
export function progressLines(
  tasks: readonly TaskView[],
  isCurrent: (t: TaskView) => boolean,
): Map<string, string> {
  const histories = new Map<string, TaskView[]>();
  for (const t of [...tasks].sort(bySlotThenNewest)) {
    histories.set(t.name, [...(histories.get(t.name) ?? []), t]);
  }
  const lines = new Map<string, string>();
  for (const [name, history] of histories) {
    const i = history.findIndex((t) => t.desiredState === 'running');
    const task = history[i];
    const latest = history[0];
    if (task)
      lines.set(name, `${label(task)}: ${taskProgress(task, isCurrent(task), history[i + 1])}`);
    else if (latest && !TERMINAL.has(latest.state))
      lines.set(name, `${label(latest)}: shutting down`);
  }
  return lines;
}

/** "web.2"; a global service's task is named after its node: "probe@pi-3". */
const label = (t: TaskView): string =>
  t.slot === 0 && t.nodeName ? `${t.service}@${t.nodeName}` : t.name;

function taskProgress(task: TaskView, current: boolean, previous: TaskView | undefined): string {
  if (task.state === 'running') {
    if (!current) return 'running (outdated, to be replaced)';
    return task.health === 'starting' || task.health === 'unhealthy'
      ? `running (health: ${task.health})`
      : 'running';
  }
  // Agents' messages often just restate the state ("assigned to node"); only reasons are shown.
  const restated = task.message.toLowerCase().startsWith(task.state);
  const why = [task.error ?? (restated ? '' : task.message)];
  if (previous?.error) why.push(`previous task ${previous.state}: ${previous.error}`);
  const detail = why.filter((w) => w).join('; ');
  return detail ? `${task.state} (${detail})` : task.state;
}

export const bySlotThenNewest = (a: TaskView, b: TaskView): number =>
  a.slot - b.slot || a.name.localeCompare(b.name) || b.updatedAt.localeCompare(a.updatedAt);

/** 1536 -> "1.5KiB": byte counts for people. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(1)}${units[i]}`;
}

/**
 * `service inspect --pretty`: the service in a few lines, then every ingress port with the
 * tasks serving it and, per node, the traffic it forwarded. `tasks` (from service ps) names the
 * tasks; without it they are shown by id.
 */
export function renderServiceDetail(d: ServiceDetail, tasks: readonly TaskView[] = []): string {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const lines = [
    `ID:        ${d.id}`,
    `Name:      ${d.name}`,
    `Mode:      ${d.mode}`,
    `Replicas:  ${d.replicas.running}/${d.replicas.desired}`,
    `Image:     ${d.image}${d.digest ? `@${d.digest}` : ''}`,
    `Ports:     ${formatPorts(d.ports) || '-'}`,
  ];
  const u = d.updateStatus;
  if (u) {
    const why = u.message && u.message !== u.state ? ` (${u.message})` : '';
    lines.push(`Update status: ${u.state}${why}, started ${relativeTime(u.startedAt)}`);
  }
  let out = lines.join('\n') + '\n';
  for (const p of d.ingress) out += '\n' + renderIngressPort(p, byId);
  return out;
}

function renderIngressPort(p: PublishedPortView, byId: ReadonlyMap<string, TaskView>): string {
  const name = (taskId: string, fallback?: string): string =>
    byId.get(taskId)?.name ?? fallback ?? shortId(taskId);
  const proxy = p.proxy ? ` (PROXY ${p.proxy})` : '';
  let out = `Ingress ${p.published}/${p.protocol} -> ${p.target}${proxy}\n`;
  const serving = p.backends.map((b) => `${name(b.taskId)} (${b.host}:${b.port})`);
  out += `  Serving:  ${serving.length > 0 ? serving.join(', ') : 'no running task'}\n`;
  const s = p.stats;
  if (!s) return out + '  Traffic:  no data (counters are kept by the leader)\n';
  if (s.nodes.length === 0) return out + '  Traffic:  no data reported yet\n';
  out += `  Traffic:  ${s.active} active, ${s.total} total, ${s.errors} errors, ${s.connectErrors} failed backend connects\n`;
  const rows: string[][] = [];
  for (const n of s.nodes) {
    rows.push([
      n.nodeName ?? shortId(n.nodeId),
      '(all)',
      String(n.active),
      String(n.total),
      String(n.errors),
      String(n.connectErrors),
      formatBytes(n.bytesIn),
      formatBytes(n.bytesOut),
    ]);
    for (const t of n.tasks)
      rows.push([
        '',
        name(t.taskId, t.taskName),
        String(t.active),
        String(t.total),
        String(t.errors),
      ]);
    if (n.truncated) rows.push(['', '(more tasks not reported)']);
  }
  const table = renderTable(
    ['NODE', 'TASK', 'ACTIVE', 'TOTAL', 'ERRORS', 'FAILED CONNECTS', 'IN', 'OUT'],
    rows,
  );
  return (
    out +
    table
      .split('\n')
      .map((l) => (l ? '  ' + l : l))
      .join('\n')
  );
}
