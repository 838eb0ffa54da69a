// Refuses agents whose protocol is outside the manager's window: marks their node down with the reason and tells the agent.
import { errorMessage } from '../../shared/errors.js';
import { encode, topics, type StatusMessage } from '../../shared/protocol.js';
import { protocolVerdict, type Notice } from '../../shared/protocol-version.js';
import type { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { Clock } from '../../shared/clock.js';
import type { NodeRecord } from '../../shared/spec.js';
import type { Broker } from '../broker/broker.js';
import { isWriteConflict } from '../store/conflict.js';
import type { Propose, StoreView } from '../store/view.js';
import { withInfo } from './reports.js';

export interface ProtocolGateDeps {
  store: StoreView;
  propose: Propose;
  broker: Broker;
  clock: Clock;
}

type NodeInfo = NonNullable<StatusMessage['node']>;

/** Writes of a refused node's record tried this often when they race the dispatcher's own. */
const WRITE_ATTEMPTS = 3;

/**
 * The leader's dispatcher asks it about every status: a refused agent's reports and heartbeats
 * are not taken (its node stays down, so its tasks move elsewhere) until it reports a protocol
 * this manager serves, typically after the node installed another release.
 */
export class ProtocolGate {
  private readonly refused = new Map<string, string>();

  constructor(
    private readonly deps: ProtocolGateDeps,
    private readonly complaints: RateLimitedLog,
  ) {}

  isRefused(nodeId: string): boolean {
    return this.refused.has(nodeId);
  }

  /** True when the agent is refused: it has been told why, and its node is being marked down. */
  refuses(nodeId: string, info: NodeInfo): boolean {
    const releases = [...this.deps.store.releases()].map((r) => ({
      version: r.manifest.version,
      ...(r.protocolVersion !== undefined ? { protocolVersion: r.protocolVersion } : {}),
    }));
    const verdict = protocolVerdict(info, releases);
    if (verdict.ok) {
      this.refused.delete(nodeId);
      return false;
    }
    this.refused.set(nodeId, verdict.message);
    this.complaints.warn(`protocol:${nodeId}`, 'refused an agent', {
      nodeId,
      reason: verdict.message,
    });
    const notice: Notice = { v: 1, code: 'protocol_unsupported', message: verdict.message };
    this.deps.broker
      .publish(topics.notice(nodeId), encode(notice), { qos: 1 })
      .catch(() => undefined);
    void this.markDown(nodeId, info, verdict.message);
    return true;
  }

  private async markDown(nodeId: string, info: NodeInfo, message: string): Promise<void> {
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const n = this.deps.store.node(nodeId);
      const next = n ? downWithReason(n, info, message, this.deps.clock.now()) : null;
      if (!next) return;
      try {
        await this.deps.propose({ commands: [{ type: 'node.put', node: next }] });
        return;
      } catch (e) {
        if (isWriteConflict(e)) continue;
        this.complaints.error(`protocol-write:${nodeId}`, 'could not mark a refused node down', {
          nodeId,
          error: errorMessage(e),
        });
        return;
      }
    }
  }
}

/** The node down with the refusal as its message and the agent's versions; null if already so. */
function downWithReason(
  n: NodeRecord,
  info: NodeInfo,
  message: string,
  now: number,
): NodeRecord | null {
  const next: NodeRecord = {
    ...(withInfo(n, info, now) ?? n),
    status: 'down',
    statusMessage: message,
    updatedAt: now,
  };
  const same =
    n.status === 'down' &&
    n.statusMessage === message &&
    n.agentVersion === next.agentVersion &&
    n.protocolVersion === next.protocolVersion;
  return same ? null : next;
}
