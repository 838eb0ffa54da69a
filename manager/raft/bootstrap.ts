// Preparing a manager's Raft log before it starts: a new cluster, a restart, or a forced rebuild.
import type { Logger } from '../../shared/log.js';
import type { Store } from '../store/store.js';
import { isWriteConflict } from '../store/conflict.js';
import { applyEntry } from './apply.js';
import { RaftNode, type Entry } from './core/index.js';
import { encodeMemberContext } from './entries.js';
import type { RaftStorage } from './storage.js';

export type LogStart = 'new-cluster' | 'existing' | 'rebuilt' | 'joining';

export interface PrepareOptions {
  storage: RaftStorage;
  store: Store;
  id: string;
  address: string;
  logger: Logger;
  /** Rebuild a one-manager cluster from this manager's data (the others are lost). */
  forceNewCluster?: boolean;
  /** This manager joins an existing cluster: it starts empty and waits for the leader. */
  joining?: boolean;
}

/** Leaves the Raft log ready for RaftHost and says which case it was. */
export function prepareRaftLog(o: PrepareOptions): LogStart {
  const saved = o.storage.load();
  const empty = saved.entries.length === 0 && !saved.snapshot && saved.hardState.term === 0;
  if (o.forceNewCluster) {
    if (empty && !o.store.cluster())
      throw new Error('--force-new-cluster needs the data directory of a manager of the cluster');
    rebuildAsSoleMember(o);
    return 'rebuilt';
  }
  if (!empty) return 'existing';
  if (o.store.cluster()) {
    // State written before this manager kept a Raft log: it becomes the log's first snapshot.
    rebuildAsSoleMember(o);
    return 'rebuilt';
  }
  if (o.joining) return 'joining';
  o.storage.save(RaftNode.bootstrap(o.id, encodeMemberContext(o.address)));
  return 'new-cluster';
}

/**
 * Applies every entry this manager knows to be committed, then starts a new log whose first
 * snapshot is that state with this manager as the only member, in a later term.
 */
function rebuildAsSoleMember(o: PrepareOptions): void {
  const { storage, store } = o;
  const saved = storage.load();
  if (saved.snapshot && store.appliedIndex < saved.snapshot.meta.index)
    store.restore(saved.snapshot.data);
  for (const e of saved.entries) {
    if (e.index <= store.appliedIndex || e.index > saved.hardState.commit) continue;
    applyCommitted(store, e);
  }
  const index = store.appliedIndex + 1;
  const dropped = store.members().filter((m) => m.id !== o.id);
  store.resetMembers(index, [{ id: o.id, address: o.address }]);
  const term = Math.max(saved.hardState.term, saved.snapshot?.meta.term ?? 0) + 1;
  storage.save({
    hardState: { term, vote: null, commit: index },
    snapshot: { meta: { index, term, conf: { voters: [o.id], learners: [] } }, data: store.dump() },
    entries: [],
  });
  o.logger.warn('started a new one-manager cluster from this manager’s data', {
    index,
    term,
    droppedManagers: dropped.map((m) => m.id),
  });
}

function applyCommitted(store: Store, e: Entry): void {
  try {
    applyEntry(store, e);
  } catch (err) {
    if (!isWriteConflict(err)) throw err;
  }
}
