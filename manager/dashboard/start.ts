// Puts the dashboard together on a running manager: sessions, the live state, the feed and the optional sources.
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { LiveParts } from '../wiring.js';
import type { StoreView } from '../store/view.js';
import { Feed } from './feed.js';
import { LiveState } from './live.js';
import type { DashboardServer } from './server.js';
import { Sessions } from './sessions.js';
import type { DashboardSources } from './sources.js';

/**
 * Starts serving on a listening server. The events panel and the log tail get their data from
 * `sources`: an event feed's records go out on the `events` topic, a service's log lines on
 * `logs/<service>` while a browser follows it.
 */
export function startDashboard(
  server: DashboardServer,
  d: {
    store: StoreView;
    live: LiveParts;
    clock: Clock;
    logger: Logger;
    sources?: DashboardSources;
  },
): { stop(): void } {
  const sources = d.sources ?? {};
  const feed = new Feed(d.clock);
  const live = new LiveState(
    { store: d.store, usage: d.live.usage, heartbeatAge: d.live.heartbeatAge },
    feed,
    d.clock,
  );
  const unsubscribe = sources.events?.subscribe((e) => feed.publish('events', [e]));
  const logs = sources.logs;
  if (logs) feed.family('logs', (service, publish, fail) => logs.follow(service, publish, fail));
  live.start();
  server.serve({
    store: d.store,
    api: d.live.api,
    sessions: new Sessions(d.store, d.clock),
    feed,
    live,
    sources,
    logger: d.logger,
  });
  return {
    stop: () => {
      unsubscribe?.();
      live.stop();
      void server.close();
    },
  };
}
