// Plots as inline SVG text for the soak report: lines over time, bars per fault, a timeline of spans. No scripts, no fetches.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface Span {
  row: string;
  from: number;
  to: number;
  label: string;
  color: string;
}

const W = 760;
const H = 220;
const PAD = { l: 56, r: 12, t: 24, b: 28 };
const COLORS = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
];

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const fmt = (v: number): string =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);

function frame(title: string, xMax: number, yMax: number, xUnit: string, yUnit: string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const y = (f: number): number => PAD.t + (1 - f) * (H - PAD.t - PAD.b);
  const x = (f: number): number => PAD.l + f * (W - PAD.l - PAD.r);
  return [
    `<text x="${PAD.l}" y="16" class="t">${esc(title)}</text>`,
    ...ticks.map(
      (f) =>
        `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(f)}" y2="${y(f)}" class="g"/><text x="${PAD.l - 6}" y="${y(f) + 4}" class="yl">${fmt(yMax * f)}</text>`,
    ),
    ...ticks.map(
      (f) =>
        `<text x="${x(f)}" y="${H - 8}" class="xl${f === 1 ? ' end' : ''}">${fmt(xMax * f)}${f === 1 ? ` ${esc(xUnit)}` : ''}</text>`,
    ),
    `<text x="4" y="${PAD.t - 8}" class="yl0">${esc(yUnit)}</text>`,
  ].join('');
}

/** Lines over a shared x axis; x and y start at 0. */
export function lineChart(
  title: string,
  series: readonly Series[],
  xUnit: string,
  yUnit: string,
): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<p class="empty">${esc(title)}: no samples</p>`;
  const xMax = Math.max(1e-9, ...all.map((p) => p[0]));
  const yMax = Math.max(1e-9, ...all.map((p) => p[1])) * 1.1;
  const sx = (v: number): number => PAD.l + (v / xMax) * (W - PAD.l - PAD.r);
  const sy = (v: number): number => PAD.t + (1 - v / yMax) * (H - PAD.t - PAD.b);
  const lines = series.map((s, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const d = s.points
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join('');
    return `<path d="${d}" stroke="${color}" fill="none" stroke-width="1.5"><title>${esc(s.name)}</title></path>`;
  });
  const legend = series
    .slice(0, 12)
    .map(
      (s, i) =>
        `<span style="color:${COLORS[i % COLORS.length] ?? '#000'}">■ ${esc(s.name)}</span>`,
    )
    .join(' ');
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">${frame(title, xMax, yMax, xUnit, yUnit)}${lines.join('')}</svg><figcaption>${legend}${series.length > 12 ? ` … ${series.length - 12} more` : ''}</figcaption></figure>`;
}

/** One bar per item, labelled under it. */
export function barChart(
  title: string,
  bars: readonly { label: string; value: number; color?: string }[],
  yUnit: string,
): string {
  if (bars.length === 0) return `<p class="empty">${esc(title)}: none</p>`;
  const yMax = Math.max(1e-9, ...bars.map((b) => b.value)) * 1.1;
  const slot = (W - PAD.l - PAD.r) / bars.length;
  const rects = bars.map((b, i) => {
    const h = (b.value / yMax) * (H - PAD.t - PAD.b);
    const x = PAD.l + i * slot + slot * 0.15;
    return `<rect x="${x.toFixed(1)}" y="${(H - PAD.b - h).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="${b.color ?? COLORS[0]}"><title>${esc(b.label)}: ${fmt(b.value)} ${esc(yUnit)}</title></rect>${bars.length <= 30 ? `<text x="${(x + slot * 0.35).toFixed(1)}" y="${H - 10}" class="bl">${esc(b.label)}</text>` : ''}`;
  });
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><text x="${PAD.l}" y="16" class="t">${esc(title)}</text>${frame('', bars.length, yMax, '', yUnit).replace(/<text[^>]*class="xl[^"]*"[^>]*>[^<]*<\/text>/g, '')}${rects.join('')}</svg></figure>`;
}

/** Spans on rows over the run (faults, violations). */
export function timeline(title: string, spans: readonly Span[], endMs: number): string {
  if (spans.length === 0) return `<p class="empty">${esc(title)}: nothing happened</p>`;
  const rows = [...new Set(spans.map((s) => s.row))];
  const rowH = 18;
  const h = PAD.t + rows.length * rowH + PAD.b;
  const sx = (v: number): number =>
    150 + (Math.min(v, endMs) / Math.max(1, endMs)) * (W - 150 - PAD.r);
  const labels = rows.map(
    (r, i) => `<text x="4" y="${PAD.t + i * rowH + 13}" class="rl">${esc(r)}</text>`,
  );
  const bars = spans.map((s) => {
    const i = rows.indexOf(s.row);
    const w = Math.max(2, sx(s.to) - sx(s.from));
    return `<rect x="${sx(s.from).toFixed(1)}" y="${PAD.t + i * rowH + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${s.color}"><title>${esc(s.label)}</title></rect>`;
  });
  const mins = endMs / 60_000;
  const axis = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (f) =>
        `<text x="${sx(f * endMs)}" y="${h - 8}" class="xl${f === 1 ? ' end' : ''}">${fmt(mins * f)}${f === 1 ? ' min' : ''}</text>`,
    )
    .join('');
  return `<figure><svg viewBox="0 0 ${W} ${h}" width="${W}" height="${h}"><text x="4" y="16" class="t">${esc(title)}</text>${labels.join('')}${bars.join('')}${axis}</svg></figure>`;
}

export const SVG_STYLE = `svg text{font:11px system-ui,sans-serif;fill:#334155}svg .t{font-weight:600;font-size:13px}svg .g{stroke:#e2e8f0}svg .yl{text-anchor:end}svg .xl,svg .bl{text-anchor:middle}svg .xl.end{text-anchor:end}figure{margin:12px 0}figcaption{font:12px system-ui;color:#475569}`;
