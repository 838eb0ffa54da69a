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
        topic === topics.renew(p.id)
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
        filter === topics.renewReply(p.id)
      );
    case 'admin':
      return filter === topics.rpcReply(clientId) && clientIdBelongsTo(clientId, p.id);
    case 'join':
      return filter === topics.joinReply(clientId);
  }
}
