// The dashboard's events panel fed from the cluster events in the store (manager/events/).
import type { EventRecord, FleetEvent } from '../../shared/events.js';
import { onEvent } from '../events/feed.js';
import type { StoreView } from '../store/view.js';
import type { DashboardEvent, DashboardEventSource } from './sources.js';

/** One event as the panel shows it: what happened, then its attributes with the reason last. */
export function dashboardEvent(e: FleetEvent): DashboardEvent {
  const attrs = Object.entries(e.attrs).filter(([k]) => !k.endsWith('Id') && k !== 'reason');
  if (e.attrs.reason !== undefined) attrs.push(['reason', e.attrs.reason]);
  const tail = attrs.length > 0 ? ` (${attrs.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
  return {
    at: e.at,
    kind: e.type,
    subject: e.actor.name || e.actor.id,
    message: `${e.action}${tail}`,
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
