// The soak's report: a JSON summary and one self-contained HTML page with plots and the timeline of faults and violations.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { drifts, driftViolations, type Drift } from './drift.js';
import {
  INVARIANTS,
  type ActionRecord,
  type FaultRecord,
  type InvariantName,
  type ProbeTally,
  type ProcessSample,
  type Violation,
} from './model.js';
import { SVG_STYLE, barChart, esc, lineChart, timeline, type Series, type Span } from './svg.js';

export interface RunRecord {
  version: string;
  seed: number;
  startedAt: string;
  durationMs: number;
  /** Ms from the start until the report: the run plus the time left for recovery. */
  endedMs: number;
  chaos: string[];
  simulate: number;
  boundMs: number;
  faults: FaultRecord[];
  actions: ActionRecord[];
  violations: Violation[];
  probes: ProbeTally[];
  processes: ProcessSample[];
  lag: { t: number; p50: number; max: number }[];
  writes: { acked: number; lost: string[]; unacked: number };
}

export interface Summary {
  passed: boolean;
  version: string;
  seed: number;
  startedAt: string;
  durationMs: number;
  chaos: string[];
  simulate: number;
  boundMs: number;
  invariants: { name: InvariantName; ok: boolean; violations: number }[];
  violations: Violation[];
  faults: FaultRecord[];
  actions: { total: number; failed: number; byKind: Record<string, number> };
  writes: RunRecord['writes'];
  probes: { ok: number; failed: number; byNode: Record<string, { ok: number; failed: number }> };
  convergenceMs: { faults: number; median: number | null; max: number | null };
  drift: Drift[];
}

export function summarize(r: RunRecord): Summary {
  const drift = drifts(r.processes, r.endedMs);
  const violations = [...r.violations, ...driftViolations(drift)].sort((a, b) => a.from - b.from);
  const byNode: Summary['probes']['byNode'] = {};
  for (const p of r.probes) {
    const n = (byNode[p.node] ??= { ok: 0, failed: 0 });
    n.ok += p.ok;
    n.failed += p.failed;
  }
  const conv = r.faults.flatMap((f) => (f.convergedAfter === undefined ? [] : [f.convergedAfter]));
  conv.sort((a, b) => a - b);
  const byKind: Record<string, number> = {};
  for (const a of r.actions) byKind[a.kind] = (byKind[a.kind] ?? 0) + 1;
  return {
    passed: violations.length === 0,
    version: r.version,
    seed: r.seed,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    chaos: r.chaos,
    simulate: r.simulate,
    boundMs: r.boundMs,
    invariants: INVARIANTS.map((name) => {
      const n = violations.filter((v) => v.invariant === name).length;
      return { name, ok: n === 0, violations: n };
    }),
    violations,
    faults: r.faults,
    actions: { total: r.actions.length, failed: r.actions.filter((a) => !a.acked).length, byKind },
    writes: r.writes,
    probes: {
      ok: r.probes.reduce((n, p) => n + p.ok, 0),
      failed: r.probes.reduce((n, p) => n + p.failed, 0),
      byNode,
    },
    convergenceMs: {
      faults: conv.length,
      median: conv.length > 0 ? (conv[Math.floor(conv.length / 2)] ?? null) : null,
      max: conv.length > 0 ? (conv[conv.length - 1] ?? null) : null,
    },
    drift,
  };
}

const min = (ms: number): number => ms / 60_000;

function perProcess(
  samples: readonly ProcessSample[],
  y: (s: ProcessSample, prev?: ProcessSample) => number | null,
): Series[] {
  const by = new Map<string, ProcessSample[]>();
  for (const s of samples) by.set(s.process, [...(by.get(s.process) ?? []), s]);
  return [...by].map(([name, list]) => ({
    name,
    points: list.flatMap((s, i): [number, number][] => {
      const v = y(s, list[i - 1]);
      return v === null ? [] : [[min(s.t), v]];
    }),
  }));
}

function plots(r: RunRecord, s: Summary): string {
  const probeSeries = (key: 'ok' | 'failed'): Series => {
    const by = new Map<number, number>();
    for (const p of r.probes)
      by.set(Math.floor(p.t / 10_000), (by.get(Math.floor(p.t / 10_000)) ?? 0) + p[key]);
    return {
      name: key === 'ok' ? 'answered' : 'failed',
      points: [...by].sort((a, b) => a[0] - b[0]).map(([k, v]) => [min(k * 10_000), v]),
    };
  };
  const spans: Span[] = [
    ...r.faults.map((f) => ({
      row: `fault ${f.kind}`,
      from: f.start,
      to: f.end,
      label: `#${f.n} ${f.kind} on ${f.targetName ?? '-'}${f.error ? ` (${f.error})` : ''}`,
      color: f.error ? '#94a3b8' : '#f59e0b',
    })),
    ...s.violations.map((v) => ({
      row: `broken ${v.invariant}`,
      from: v.from,
      to: v.to ?? r.endedMs,
      label: v.detail,
      color: '#dc2626',
    })),
  ];
  return [
    timeline('Faults and broken invariants', spans, r.endedMs),
    barChart(
      'Convergence time per fault (s): from the fault until every service and node was whole',
      r.faults.map((f) => ({
        label: `#${f.n}`,
        value: (f.convergedAfter ?? 0) / 1000,
        color: f.convergedAfter === undefined ? '#94a3b8' : '#2563eb',
      })),
      's',
    ),
    lineChart(
      'Ingress probes per 10 s',
      [probeSeries('ok'), probeSeries('failed')],
      'min',
      'requests',
    ),
    lineChart(
      'RSS per process',
      perProcess(r.processes, (x) => x.rssBytes / 1024 / 1024),
      'min',
      'MB',
    ),
    lineChart(
      'CPU per process (% of one core)',
      perProcess(r.processes, (x, p) =>
        p && x.cpuMs >= p.cpuMs && x.t > p.t ? ((x.cpuMs - p.cpuMs) / (x.t - p.t)) * 100 : null,
      ),
      'min',
      '%',
    ),
    lineChart(
      'Open files per process',
      perProcess(r.processes, (x) => x.openFiles),
      'min',
      'files',
    ),
    lineChart(
      'Heartbeat lag (leader)',
      [
        { name: 'median', points: r.lag.map((l) => [min(l.t), l.p50]) },
        { name: 'max', points: r.lag.map((l) => [min(l.t), l.max]) },
      ],
      'min',
      'ms',
    ),
  ].join('\n');
}

function tables(s: Summary): string {
  const row = (cells: string[]): string => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  const inv = s.invariants.map((i) =>
    row([
      esc(i.name),
      i.ok ? '<b class="ok">held</b>' : `<b class="bad">broken ${i.violations}×</b>`,
    ]),
  );
  const viol = s.violations.map((v) =>
    row([
      `${(v.from / 1000).toFixed(1)} s`,
      v.to === undefined ? 'not mended' : `${(v.to / 1000).toFixed(1)} s`,
      esc(v.invariant),
      esc(v.detail),
    ]),
  );
  const faults = s.faults.map((f) =>
    row([
      `#${f.n}`,
      esc(f.kind),
      esc(f.targetName ?? '-'),
      `${(f.start / 1000).toFixed(1)} s`,
      `${((f.end - f.start) / 1000).toFixed(1)} s`,
      f.error
        ? esc(f.error)
        : f.convergedAfter === undefined
          ? 'did not converge'
          : `${(f.convergedAfter / 1000).toFixed(1)} s`,
    ]),
  );
  const drift = s.drift.map((d) =>
    row([
      esc(d.process),
      d.rssStartMb.toFixed(1),
      d.rssEndMb.toFixed(1),
      d.rssMbPerHour.toFixed(2),
      d.filesPerHour.toFixed(1),
      d.cpuPercent.toFixed(1),
    ]),
  );
  return `<h2>Invariants</h2><table>${inv.join('')}</table>
<h2>Violations</h2>${viol.length ? `<table><tr><th>from</th><th>to</th><th>invariant</th><th>what</th></tr>${viol.join('')}</table>` : '<p>none</p>'}
<h2>Faults</h2><table><tr><th></th><th>fault</th><th>target</th><th>at</th><th>lasted</th><th>converged after</th></tr>${faults.join('')}</table>
<h2>Processes</h2><table><tr><th>process</th><th>RSS start MB</th><th>RSS end MB</th><th>MB/h</th><th>files/h</th><th>CPU %</th></tr>${drift.join('')}</table>`;
}

export function renderHtml(r: RunRecord, s: Summary): string {
  const verdict = s.passed
    ? '<b class="ok">PASSED</b>'
    : `<b class="bad">FAILED: ${s.violations.length} violation(s)</b>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fleet soak ${esc(s.startedAt)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#0f172a;max-width:820px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #e2e8f0;padding:3px 8px;text-align:left;font-size:13px}.ok{color:#16a34a}.bad{color:#dc2626}${SVG_STYLE}</style></head><body>
<h1>fleet soak: ${verdict}</h1>
<p>${esc(s.startedAt)} · ${(s.durationMs / 60_000).toFixed(1)} min · seed ${s.seed} (replay with <code>--seed ${s.seed}</code>) · faults: ${esc(s.chaos.join(', ') || 'none')} · simulated boards: ${s.simulate} · bound ${(s.boundMs / 1000).toFixed(0)} s · fleet ${esc(s.version)}</p>
<p>${s.faults.length} faults, ${s.actions.total} workload actions (${s.actions.failed} failed), ${s.writes.acked} acknowledged writes (${s.writes.lost.length} lost), ingress probes ${s.probes.ok} answered / ${s.probes.failed} failed; convergence median ${s.convergenceMs.median === null ? '-' : (s.convergenceMs.median / 1000).toFixed(1) + ' s'}, max ${s.convergenceMs.max === null ? '-' : (s.convergenceMs.max / 1000).toFixed(1) + ' s'}.</p>
${plots(r, s)}
${tables(s)}
</body></html>
`;
}

/** Writes DIR/summary.json and DIR/report.html; returns the summary. */
export async function writeReport(dir: string, r: RunRecord): Promise<Summary> {
  const s = summarize(r);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'summary.json'), JSON.stringify(s, null, 2) + '\n');
  await fs.writeFile(path.join(dir, 'report.html'), renderHtml(r, s));
  return s;
}
