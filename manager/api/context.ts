// What every API handler is given and returns: the handler context, its outcome and the handler's type.
import type { Method, ParsedParams, Results } from '../../shared/api.js';
import type { IngressStatsView } from '../ingress/stats.js';
import type { ImagePresenceView } from '../images/presence.js';
import type { UsageBookView } from '../observe/usage-book.js';
import type { Command } from '../store/commands.js';
import type { StoreView } from '../store/store.js';
import type { RaftView } from './views.js';

export interface HandlerContext {
  store: StoreView;
  now: number;
  managerId: string;
  /** Key that encrypts secret values at rest (the manager's secrets.key file). */
  dataKey: Uint8Array;
  /** The Raft group as this manager sees it (absent in unit tests without one). */
  raft?: RaftView;
  /** The routing mesh's traffic counters (the leader's; a follower has none). */
  ingressStats?: IngressStatsView;
  /** The blobs stored on this manager (absent in unit tests without a blob store). */
  blobs?: { has(digest: string): boolean };
  /** Which nodes hold which cluster images (the leader's view). */
  imagePresence?: ImagePresenceView;
  /** The nodes' latest usage summaries (the leader's; a follower has none). */
  usage?: UsageBookView;
}

export interface Outcome<M extends Method> {
  result: Results[M];
  commands?: Command[];
}

/** One API method: its parsed parameters and the context in, its answer and commands out. */
export type Handler<M extends Method> = (p: ParsedParams<M>, ctx: HandlerContext) => Outcome<M>;
