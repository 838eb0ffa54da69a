// Applying one committed Raft entry to the store: a proposal, a membership change or an empty entry.
import { emptyChangeSet, type ChangeSet } from '../store/commands.js';
import type { Store } from '../store/store.js';
import { parseConfChange, type Entry } from './core/index.js';
import { decodeMemberContext, entryToProposal } from './entries.js';

/**
 * Applies the entry at its index. Throws WriteConflict when the store refuses the proposal (the
 * index is consumed all the same), and any other error when the store could not write (nothing
 * consumed: the entry must be applied again).
 */
export function applyEntry(store: Store, e: Entry): ChangeSet {
  if (e.type === 'conf') {
    const cc = parseConfChange(e);
    if (!cc) {
      // The core proposes only well-formed changes and ignores any other conf entry; the store
      // does likewise, so that the members it lists stay those the core counts.
      store.markApplied(e.index);
      return emptyChangeSet(e.index);
    }
    // A promotion or demotion carries no address: the member keeps the one it joined with.
    const address =
      decodeMemberContext(cc.context) || store.members().find((m) => m.id === cc.id)?.address || '';
    const op = cc.op === 'remove' ? 'remove' : 'upsert';
    store.applyMembership(e.index, { op, member: { id: cc.id, address } });
    return emptyChangeSet(e.index);
  }
  if (e.data === '') {
    store.markApplied(e.index);
    return emptyChangeSet(e.index);
  }
  return store.apply(entryToProposal(e.data), e.index);
}
