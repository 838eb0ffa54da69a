// The manager's RPC method for cluster events (`fleet events`): parameter schema and result, merged into shared/api.ts.
import { z } from 'zod';
import { eventFiltersSchema, type FleetEvent } from './events.js';

/** At most this many events in one answer; `more` says to ask again after the last one. */
export const MAX_EVENTS_PER_CALL = 1000;

const time = z.number().int().min(0);

export const eventParams = {
  /**
   * Events in sequence order: after `afterSeq` (a follower's place), at or after `since`, at or
   * before `until` (milliseconds since the epoch), passing the filters.
   */
  'event.ls': z.object({
    since: time.optional(),
    until: time.optional(),
    afterSeq: z.number().int().min(0).default(0),
    filters: eventFiltersSchema,
    limit: z.number().int().min(0).max(MAX_EVENTS_PER_CALL).default(MAX_EVENTS_PER_CALL),
  }),
} as const;

export interface EventPage {
  events: FleetEvent[];
  /** The sequence number to ask after next time: the last event looked at (matching or not). */
  lastSeq: number;
  /** Events after lastSeq were left out by the limit. */
  more: boolean;
  /** The answering leader's time: a follower knows from it when --until has passed. */
  now: number;
}

export interface EventResults {
  'event.ls': EventPage;
}
