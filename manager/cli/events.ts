// `fleet events`: prints cluster events since a time and follows new ones, like `docker events`.
import type { EventPage, Params } from '../../shared/api.js';
import { describeAttrs, type EventFilters, type FleetEvent } from '../../shared/events.js';
import { holdProcessOpen, systemClock, type Clock } from '../../shared/clock.js';
import { isFleetError } from '../../shared/errors.js';
import { defineCommand } from './command.js';
import { withClient, withConnection } from './connection.js';
import { parseEventFilters, parseEventTime } from './flags/events.js';
import { choiceFlag, repeatable } from './flags/values.js';
import type { RpcClient } from './rpc-client.js';

/** A follower asks for new events this often; polling after a sequence number survives failovers. */
export const EVENT_POLL_MS = 500;
/** While no manager answers (an election, a restart), a follower keeps asking this long. */
const UNAVAILABLE_GRACE_MS = 60_000;
/** Answers that mean "no leader just now": a follower waits and asks again. */
const PASSING = new Set(['unavailable', 'no_quorum', 'not_leader', 'timeout']);

export interface EventStreamOptions {
  since?: number | undefined;
  until?: number | undefined;
  filters: EventFilters;
  format: 'text' | 'json';
  clock?: Clock;
  pollMs?: number;
  out?: NodeJS.WritableStream;
}

export const eventsCommand = defineCommand({
  command: 'events',
  describe: 'Show cluster events (nodes, tasks, services, updates, leaders) and follow new ones',
  builder: (y) =>
    withConnection(y)
      .option('since', {
        type: 'string',
        describe: 'show events from this time on: RFC 3339, Unix seconds, or back from now (10m)',
      })
      .option('until', {
        type: 'string',
        describe: 'stop at this time (same forms); without it new events are followed',
      })
      .option('filter', {
        ...repeatable,
        alias: 'f',
        describe: 'type=node|task|service|update|manager, node=NAME, service=NAME; repeatable',
      })
      .option('format', {
        type: 'string',
        default: 'text',
        describe: 'text: one line per event; json: one JSON object per line',
      })
      .example('$0 events --since 10m --filter type=node', '')
      .example('$0 events --since 1h --until 10m --format json', ''),
  handler: async (argv) => {
    const now = systemClock.now();
    const options: EventStreamOptions = {
      since: argv.since === undefined ? undefined : parseEventTime('since', argv.since, now),
      until: argv.until === undefined ? undefined : parseEventTime('until', argv.until, now),
      filters: parseEventFilters(argv.filter),
      format: choiceFlag('format', argv.format, ['text', 'json'] as const),
    };
    const release = holdProcessOpen();
    try {
      await withClient(argv, (client) => streamEvents(client, options));
    } finally {
      release();
    }
  },
});

/**
 * Prints the events since `since` (none from before the call without it, as Docker does), then
 * asks for newer ones every EVENT_POLL_MS until the leader's time passes `until` (never without).
 */
export async function streamEvents(client: RpcClient, o: EventStreamOptions): Promise<void> {
  const { clock = systemClock, pollMs = EVENT_POLL_MS, out = process.stdout } = o;
  let afterSeq = 0;
  if (o.since === undefined) afterSeq = (await call(client, clock, { limit: 0 })).lastSeq;
  for (;;) {
    const page = await call(client, clock, {
      afterSeq,
      filters: o.filters,
      ...(o.since !== undefined ? { since: o.since } : {}),
      ...(o.until !== undefined ? { until: o.until } : {}),
    });
    for (const e of page.events) out.write(`${formatEvent(e, o.format)}\n`);
    afterSeq = page.lastSeq;
    if (page.more) continue;
    if (o.until !== undefined && page.now >= o.until) return;
    await clock.sleep(pollMs);
  }
}

/** One event.ls call; while no leader answers it waits and asks again, for a while. */
async function call(client: RpcClient, clock: Clock, q: Params<'event.ls'>): Promise<EventPage> {
  const giveUpAt = clock.now() + UNAVAILABLE_GRACE_MS;
  for (;;) {
    try {
      return await client.call('event.ls', q);
    } catch (e) {
      if (!isFleetError(e) || !PASSING.has(e.code) || clock.now() >= giveUpAt) throw e;
      await clock.sleep(EVENT_POLL_MS);
    }
  }
}

/**
 * json: the event with its time in RFC 3339. text, as Docker prints it: time, type, action, the
 * actor's name, then its attributes (ids left out, the reason last).
 */
export function formatEvent(e: FleetEvent, format: 'text' | 'json'): string {
  const time = new Date(e.at).toISOString().replace(/Z$/, '000Z');
  if (format === 'json') return JSON.stringify({ time, ...e });
  return `${time} ${e.type} ${e.action} ${e.actor.name}${describeAttrs(e)}`;
}
