// The soak's fault schedule: which fault, when, for how long and against which pick of targets, from one seed.
import { AGENT_FAULTS, MANAGER_FAULTS, type Fault } from '../../../shared/chaos.js';

/** The faults `fleet soak --chaos` takes: the orders of shared/chaos.ts, and kill-leader. */
export type SoakFault = Exclude<Fault, 'stats'> | 'kill-leader';
export const SOAK_FAULTS: readonly SoakFault[] = [
  ...AGENT_FAULTS.filter((f) => f !== 'stats'),
  ...MANAGER_FAULTS.filter((f) => f !== 'stats'),
  'kill-leader',
] as SoakFault[];

/** How long each fault lasts, at least and at most (ms): long enough to matter, short enough to soak often. */
const DURATION: Record<SoakFault, [number, number]> = {
  'kill-agent': [1_000, 8_000],
  'restart-agent': [1_000, 5_000],
  'restart-engine': [2_000, 6_000],
  partition: [5_000, 20_000],
  'fill-disk': [10_000, 30_000],
  'skew-clock': [10_000, 30_000],
  drop: [5_000, 15_000],
  delay: [5_000, 15_000],
  duplicate: [5_000, 15_000],
  'kill-manager': [1_000, 5_000],
  'restart-manager': [1_000, 5_000],
  'kill-leader': [1_000, 5_000],
  'partition-manager': [5_000, 15_000],
};

export interface PlannedFault {
  /** Sequence number from 1, as the report names it. */
  n: number;
  /** Ms from the start of the run. */
  at: number;
  kind: SoakFault;
  durationMs: number;
  /** In [0, 1): which of the eligible targets, sorted by node id, takes it. */
  pick: number;
  params: Record<string, number>;
}

export interface ScheduleOptions {
  seed: number;
  durationMs: number;
  kinds: readonly SoakFault[];
  /** Mean gap between the end of one fault and the start of the next. */
  gapMs: number;
}

/** mulberry32: small, fast and the same on every machine, so a seed replays a schedule. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function paramsFor(kind: SoakFault, r: () => number): Record<string, number> {
  switch (kind) {
    case 'skew-clock':
      return { offsetMs: Math.round((r() < 0.5 ? -1 : 1) * (60_000 + r() * 240_000)) };
    case 'drop':
    case 'duplicate':
      return { rate: Math.round((0.2 + r() * 0.6) * 100) / 100 };
    case 'delay':
      return {
        rate: Math.round((0.2 + r() * 0.6) * 100) / 100,
        delayMs: 500 + Math.floor(r() * 2500),
      };
    case 'fill-disk':
      return { leaveBytes: 16 * 1024 * 1024 };
    default:
      return {};
  }
}

/**
 * One fault at a time: each starts a gap after the previous one ended, so every fault's
 * convergence is measured on its own. The last fault ends before the run does.
 */
export function planFaults(o: ScheduleOptions): PlannedFault[] {
  if (o.kinds.length === 0) return [];
  const r = prng(o.seed);
  const out: PlannedFault[] = [];
  let at = Math.round(o.gapMs * (0.5 + r()));
  for (let n = 1; ; n++) {
    const kind = o.kinds[Math.floor(r() * o.kinds.length)] as SoakFault;
    const [lo, hi] = DURATION[kind];
    const durationMs = Math.round(lo + r() * (hi - lo));
    const pick = r();
    const params = paramsFor(kind, r);
    if (at + durationMs > o.durationMs) break;
    out.push({ n, at, kind, durationMs, pick, params });
    at += durationMs + Math.round(o.gapMs * (0.5 + r()));
  }
  return out;
}

/** "kill-agent,partition" → the kinds, or the unknown names. */
export function parseChaosList(text: string): { kinds: SoakFault[] } | { unknown: string[] } {
  const words = text
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);
  if (words.length === 1 && words[0] === 'all') return { kinds: [...SOAK_FAULTS] };
  if (words.length === 1 && words[0] === 'none') return { kinds: [] };
  const known = new Set<string>(SOAK_FAULTS);
  const unknown = words.filter((w) => !known.has(w));
  if (unknown.length > 0) return { unknown };
  return { kinds: [...new Set(words)] as SoakFault[] };
}

/** The target a fault's pick lands on among the eligible ones (sorted, so a seed replays it). */
export function pickTarget<T extends { id: string }>(
  pick: number,
  eligible: readonly T[],
): T | null {
  const sorted = [...eligible].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return sorted[Math.min(sorted.length - 1, Math.floor(pick * sorted.length))] ?? null;
}
