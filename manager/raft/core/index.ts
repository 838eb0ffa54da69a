// Entry point of the Raft core: the contract types and the RaftNode class.
export * from './types.js';
export { RaftNode, RaftConfigError } from './raft-node.js';
