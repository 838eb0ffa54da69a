// The dashboard's events panel fed from the cluster events in the store (manager/events/).
import { describeAttrs, type EventRecord, type FleetEvent } from '../../shared/events.js';
import { onEvent } from '../events/feed.js';
import type { StoreView } from '../store/view.js';
import type { DashboardEvent, DashboardEventSource } from './sources.js';

/** One event as the panel shows it: what happened, then its attributes with the reason last. */
export function dashboardEvent(e: FleetEvent): DashboardEvent {
  return {
    at: e.at,
    kind: e.type,
    subject: e.actor.name || e.actor.id,
    message: `${e.action}${describeAttrs(e)}`,
  };
}

export function storeEventSource(store: StoreView): DashboardEventSource {
  return {
    recent(limit) {
      const newest: EventRecord[] = [...store.events()].sort((a, b) => a.seq - b.seq);
      return newest.slice(Math.max(0, newest.length - limit)).map(dashboardEvent);
    },
    subscribe(on) {
      return onEvent(store, (e) => on(dashboardEvent(e)));
    },
  };
}
