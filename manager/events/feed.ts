// The in-process event subscription (`Manager.onEvent`): every event as this manager applies it, leader or not.
import type { EventRecord, FleetEvent } from '../../shared/events.js';
import type { StoreView } from '../store/view.js';
import { withoutId } from './query.js';

/**
 * Calls `listener` with each event committed to the store, in sequence order, on any manager
 * (a follower applies the leader's writes too). Returns the unsubscribe. A listener that throws
 * does not stop the others or the store.
 */
export function onEvent(store: StoreView, listener: (e: FleetEvent) => void): () => void {
  // A snapshot installed later lists every kept event again: only newer ones are passed on.
  let last = 0;
  for (const e of store.events()) last = Math.max(last, e.seq);
  return store.onChange((c) => {
    if (c.events.size === 0) return;
    const events = [...c.events]
      .map((id) => store.event(id))
      .filter((e): e is EventRecord => e !== undefined && e.seq > last)
      .sort((a, b) => a.seq - b.seq);
    for (const e of events) {
      last = e.seq;
      try {
        listener(withoutId(e));
      } catch {
        // The subscriber's own failure; the store goes on.
      }
    }
  });
}
