// Who may publish and subscribe where: each identity is confined to its own topics.
import { clientIdBelongsTo } from '../../shared/identity.js';
import { blobTopicClient } from '../../shared/images/blob-protocol.js';
import { PREFIX, topics } from '../../shared/protocol.js';
import { assignmentDeltaTopic } from '../../shared/assignment-delta.js';
import { logTopicClient, logTopics } from '../../shared/log-stream.js';
import { chaosTopics } from '../../shared/chaos.js';

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
        topic === logTopics.data(p.id) ||
        topic === chaosTopics.result(p.id) || // its answers to fault orders
        ownBlobTopic(p, clientId, topic, 'req') ||
        (p.role === 'manager' && isRaftTopic(topic))
      );
    case 'admin':
      return (
        (topic.startsWith(`${PREFIX}/rpc/`) && !topic.slice(PREFIX.length + 5).includes('/')) ||
        ownBlobTopic(p, clientId, topic, 'req') ||
        ownLogTopic(p, clientId, topic, 'req')
      );
    case 'join':
      return topic === topics.join(clientId);
  }
}

export function maySubscribe(p: Principal, clientId: string, filter: string): boolean {
  switch (p.kind) {
    case 'node':
      return (
        filter === topics.assignments(p.id) ||
        filter === assignmentDeltaTopic(p.id) ||
        filter === topics.ingressTable() ||
        filter === topics.discoveryTable() ||
        filter === topics.renewReply(p.id) ||
        filter === topics.notice(p.id) ||
        filter === topics.leader() || // agents follow the leader
        filter === logTopics.control(p.id) ||
        filter === chaosTopics.order(p.id) || // fault orders, checked by the agent itself
        ownBlobTopic(p, clientId, filter, 'res')
      );
    case 'admin':
      return (
        (filter === topics.rpcReply(clientId) && clientIdBelongsTo(clientId, p.id)) ||
        filter === topics.leader() || // the CLI learns every manager's address for failover
        ownBlobTopic(p, clientId, filter, 'res') ||
        ownLogTopic(p, clientId, filter, 'res')
      );
    case 'join':
      return filter === topics.joinReply(clientId);
  }
}

/** A client's own blob channel: requests it sends, responses it reads. */
function ownBlobTopic(
  p: Principal & { id: string },
  clientId: string,
  topic: string,
  kind: 'req' | 'res',
): boolean {
  const owner = blobTopicClient(topic, kind);
  return owner === clientId && clientIdBelongsTo(clientId, p.id);
}

/** A CLI's own log channel: the streams it asks for, the lines it reads. */
function ownLogTopic(
  p: Principal & { id: string },
  clientId: string,
  topic: string,
  kind: 'req' | 'res',
): boolean {
  return logTopicClient(topic, kind) === clientId && clientIdBelongsTo(clientId, p.id);
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
