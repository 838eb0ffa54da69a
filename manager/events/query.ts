// Reads a page of cluster events from the store: after a sequence number, within a time range, through filters.
import type { EventPage } from '../../shared/api-events.js';
import {
  eventMatches,
  type EventFilters,
  type EventRecord,
  type FleetEvent,
} from '../../shared/events.js';

export interface EventQuery {
  since?: number | undefined;
  until?: number | undefined;
  afterSeq: number;
  filters: EventFilters;
  /** 0 asks only where the log ends (lastSeq), as a follower does before printing new events. */
  limit: number;
}

/** The events a query selects, in sequence order, and where the next query should resume. */
export function eventPage(all: Iterable<EventRecord>, q: EventQuery, now: number): EventPage {
  const after: EventRecord[] = [];
  let lastSeq = q.afterSeq;
  for (const e of all) {
    if (e.seq > q.afterSeq) after.push(e);
    if (e.seq > lastSeq) lastSeq = e.seq;
  }
  if (q.limit === 0) return { events: [], lastSeq, more: false, now };
  after.sort((a, b) => a.seq - b.seq);
  const events: FleetEvent[] = [];
  for (const e of after) {
    if (events.length === q.limit) {
      const last = events[events.length - 1];
      return { events, lastSeq: last?.seq ?? q.afterSeq, more: true, now };
    }
    if (q.since !== undefined && e.at < q.since) continue;
    if (q.until !== undefined && e.at > q.until) continue;
    if (eventMatches(e, q.filters)) events.push(withoutId(e));
  }
  return { events, lastSeq, more: false, now };
}

/** The event as the API shows it: the store's id is only its sequence number again. */
export function withoutId(e: EventRecord): FleetEvent {
  const { id: _id, ...event } = e;
  return event;
}
