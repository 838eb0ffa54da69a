// Who may publish and subscribe where: each identity is confined to its own topics.
import { clientIdBelongsTo } from '../../shared/identity.js';
import { PREFIX, topics } from '../../shared/protocol.js';

export type Principal =
  | { kind: 'node'; id: string; role: 'worker' | 'manager' }
  | { kind: 'admin'; id: string }
  | { kind: 'join'; role: 'worker' | 'manager' };

export function mayPublish(p: Principal, clientId: string, topic: string): boolean {
  switch (p.kind) {
    case 'node':
      return (
        topic === topics.heartbeat(p.id) ||
        topic === topics.status(p.id) ||
        topic === topics.will(p.id) ||
        topic === topics.renew(p.id) ||
        topic === topics.ingressStats(p.id) ||
        (p.role === 'manager' && isRaftTopic(topic))
      );
    case 'admin':
      return topic.startsWith(`${PREFIX}/rpc/`) && !topic.slice(PREFIX.length + 5).includes('/');
    case 'join':
      return topic === topics.join(clientId);
  }
}

export function maySubscribe(p: Principal, clientId: string, filter: string): boolean {
  switch (p.kind) {
    case 'node':
      return (
        filter === topics.assignments(p.id) ||
        filter === topics.ingressTable() ||
        filter === topics.discoveryTable() ||
        filter === topics.renewReply(p.id) ||
        filter === topics.leader() // agents follow the leader
      );
    case 'admin':
      return (
        (filter === topics.rpcReply(clientId) && clientIdBelongsTo(clientId, p.id)) ||
        filter === topics.leader() // the CLI learns every manager's address for failover
      );
    case 'join':
      return filter === topics.joinReply(clientId);
  }
}

const RAFT_PREFIX = `${PREFIX}/raft/`;

/**
 * fleet/v1/raft/<id> or fleet/v1/raft/<id>/snap: a manager sends Raft messages to any peer, so
 * the id is not its own; no wildcard or further level can widen it.
 */
export function isRaftTopic(topic: string): boolean {
  if (!topic.startsWith(RAFT_PREFIX)) return false;
  const rest = topic.slice(RAFT_PREFIX.length);
  const id = rest.endsWith('/snap') ? rest.slice(0, -'/snap'.length) : rest;
  return id.length > 0 && !/[/+#]/.test(id);
}
