// Entry point of the Raft core: the contract types and the RaftNode class.
//
// Semantics worth knowing when driving it:
// - Conf entries take effect at advance(), once the Ready that handed them out in `committed`
//   is acknowledged; at construction the conf already includes every conf entry up to commit.
// - compact() does not surface in a Ready: the caller stores its own snapshot; the core only
//   keeps it to send to lagging followers.
// - A snapshot sent to a follower should be reported with reportSnapshot(); one neither
//   acknowledged nor reported within two election timeouts is re-sent.
export * from './types.js';
export { RaftNode, RaftConfigError } from './raft-node.js';
export { parseConfChange } from './conf.js';
