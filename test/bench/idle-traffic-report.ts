// The idle-traffic benchmark's figures: bytes on the wire in the window, scaled to a day and a month, with the goals.
import type { LinkCounts } from '../helpers/counting-link.js';
import { describeDetection, linkTiming, statusRefreshMs } from '../../shared/link-profile.js';
import { goalLine, printTable } from './lib.js';

const DAY_S = 86_400;
export const MONTH_DAYS = 30;
/** IPv4 (20) + TCP (20) + the timestamp option Linux puts on every segment (12). */
export const HEADER_BYTES = 52;
const GOAL_DEFAULT_PER_DAY = 2 * 1024 * 1024;
const GOAL_METERED_PER_MONTH = 1024 * 1024;
const CLUSTER_HEARTBEAT_MS = 2_000;

export interface Measured {
  profile: 'default' | 'metered';
  start: LinkCounts;
  end: LinkCounts;
  seconds: number;
  /** The keepalive the metered agent ran with during the window (seconds). */
  runKeepaliveS: number;
  /** Seconds from freezing the agent to its node marked down, as run; null: not measured. */
  downAfterS: number | null;
}

interface Figures {
  up: number;
  down: number;
  segments: number;
  wire: number;
  reconnects: number;
}

/** Bytes in the window: TLS both ways plus a header per segment the kernel counted. */
function figures(m: Measured): Figures {
  const { start, end } = m;
  const up = end.up.bytes - start.up.bytes;
  const down = end.down.bytes - start.down.bytes;
  const reads = end.up.reads + end.down.reads - start.up.reads - start.down.reads;
  // Without ss: each read taken as one segment answered by one pure ACK.
  const segments =
    end.segments !== null && start.segments !== null ? end.segments - start.segments : reads * 2;
  const wire = up + down + segments * HEADER_BYTES;
  return { up, down, segments, wire, reconnects: end.accepted - start.accepted };
}

/**
 * A metered agent's idle traffic is one PINGREQ/PINGRESP exchange per keepalive period and one
 * status refresh a day. The run uses a short keepalive so that the window holds many periods;
 * the cost of one period is scaled to the profile's real keepalive. The refresh is the largest
 * record the agent sent (its status on connect) with its PUBACK and three segments' headers.
 */
function meteredPerDay(m: Measured, f: Figures): { perDay: number; note: string } {
  const real = linkTiming('metered', CLUSTER_HEARTBEAT_MS);
  const periods = m.seconds / m.runKeepaliveS;
  const perPeriod = f.wire / periods;
  const status = m.end.up.maxRead + 4 + 22 + 3 * HEADER_BYTES;
  const refreshes = (DAY_S * 1000) / statusRefreshMs('metered');
  const perDay = perPeriod * (DAY_S / real.keepaliveS) + status * refreshes;
  const note =
    `${perPeriod.toFixed(0)} B per keepalive period (${periods.toFixed(0)} periods of ` +
    `${m.runKeepaliveS} s measured), scaled to ${real.keepaliveS / 60} min, + ${status} B status refresh/day`;
  return { perDay, note };
}

export function report(measured: Measured[]): void {
  const rows: string[][] = [
    [
      'profile',
      'up B',
      'down B',
      'segments',
      'wire B',
      'per day',
      'per month',
      'detection',
      'down after (as run)',
    ],
  ];
  const perDay = new Map<string, number>();
  const notes: string[] = [];
  for (const m of measured) {
    const f = figures(m);
    const timing = linkTiming(m.profile, CLUSTER_HEARTBEAT_MS);
    let day = (f.wire / m.seconds) * DAY_S;
    if (m.profile === 'metered') {
      const scaled = meteredPerDay(m, f);
      notes.push(`metered: ${kib(day)}/day as run; ${scaled.note}`);
      day = scaled.perDay;
    }
    if (f.reconnects > 0) notes.push(`${m.profile}: ${f.reconnects} reconnect(s) in the window`);
    perDay.set(m.profile, day);
    rows.push([
      m.profile,
      String(f.up),
      String(f.down),
      String(f.segments),
      String(f.wire),
      kib(day),
      kib(day * MONTH_DAYS),
      describeDetection(timing),
      m.downAfterS === null
        ? 'n/a'
        : `${m.downAfterS.toFixed(1)} s${m.profile === 'metered' ? ` (${m.runKeepaliveS} s keepalive)` : ''}`,
    ]);
  }
  console.log('');
  printTable(rows, 'lrrrrrrll');
  const seconds = measured[0]?.seconds ?? 0;
  console.log(
    `\nwire B = TLS bytes both ways + ${HEADER_BYTES} B of IPv4+TCP headers per segment (segments as ` +
      `the kernel counted them on the relay's socket facing the agent, pure ACKs included), ` +
      `over ${seconds.toFixed(0)} s, scaled to a day (${MONTH_DAYS}-day month).`,
  );
  console.log(
    'detection: the bound from the last packet heard; down after (as run): from freezing each ' +
      'agent (SIGSTOP) to its node marked down, which a metered agent frozen mid-period beats.',
  );
  for (const n of notes) console.log(n);
  goals(perDay);
}

function goals(perDay: Map<string, number>): void {
  const d = perDay.get('default');
  if (d !== undefined) {
    // The 2 s heartbeat is what buys ~6 s detection; the period that would fit the goal:
    const fit = (CLUSTER_HEARTBEAT_MS / 1000) * (d / GOAL_DEFAULT_PER_DAY);
    console.log(
      `default: a heartbeat every 2 s buys down detection in ~6 s; 2 MB/day would take a ` +
        `heartbeat about every ${fit.toFixed(0)} s (detection ~${(fit * 3).toFixed(0)} s) ` +
        `or the metered profile`,
    );
    goalLine(`default profile <= 2 MB per day (measured ${kib(d)})`, d <= GOAL_DEFAULT_PER_DAY);
  }
  const me = perDay.get('metered');
  if (me !== undefined) {
    goalLine(
      `metered profile <= 1 MB per month (measured ${kib(me * MONTH_DAYS)})`,
      me * MONTH_DAYS <= GOAL_METERED_PER_MONTH,
    );
  }
}

/** Where the bytes went, by MQTT packet kind and topic (plain runs only). */
export function printKinds(profile: string, start: LinkCounts, end: LinkCounts): void {
  const rows: string[][] = [['packet', 'count', 'MQTT bytes']];
  for (const [k, v] of end.kinds) {
    const before = start.kinds.get(k) ?? { packets: 0, bytes: 0 };
    if (v.packets > before.packets)
      rows.push([k, String(v.packets - before.packets), String(v.bytes - before.bytes)]);
  }
  console.log(`\n${profile}: MQTT packets in the window`);
  printTable(rows, 'lrr');
}

export function kib(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(2)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}
