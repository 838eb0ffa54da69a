// The API's event method: a page of the cluster events the store keeps (`fleet events`).
import { eventPage } from '../events/query.js';
import type { Handler } from './context.js';

export const eventHandlers: { 'event.ls': Handler<'event.ls'> } = {
  'event.ls': (p, { store, now }) => ({ result: eventPage(store.events(), p, now) }),
};
