// Sends each node its assignment: the full set retained on its topic, and to agents that apply them, only the changes as a delta.
import { assignmentDeltaTopic, makeDelta } from '../../shared/assignment-delta.js';
import type { Logger } from '../../shared/log.js';
import { encode, topics, type AssignedTask, type Assignment } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';

/** A node's assignment before its secrets are sealed; the sender seals what changed. */
export interface AssignmentDraft {
  version: number;
  nodeId: string;
  /** Everything but the tasks (heartbeat, link, prefetch, release, ...), as the message has it. */
  head: Omit<Assignment, 'v' | 'version' | 'nodeId' | 'tasks'>;
  tasks: AssignedTask[];
}

/** What was last sent to one node: the full set (sealed) and each task's unsealed content. */
interface Sent {
  key: string;
  full: Assignment;
  drafts: Map<string, string>;
}

export type SendResult = 'unchanged' | 'full' | 'delta';

export class AssignmentSender {
  private readonly sent = new Map<string, Sent>();
  /** Nodes whose agent said (in its last status) that it applies deltas. */
  private readonly deltaNodes = new Set<string>();

  constructor(
    private readonly broker: Pick<Broker, 'publish' | 'retainOnly'>,
    private readonly logger: Logger,
  ) {}

  /** From each status: whether the node's agent applies deltas. */
  noteDeltas(nodeId: string, applies: boolean): void {
    if (applies) this.deltaNodes.add(nodeId);
    else this.deltaNodes.delete(nodeId);
  }

  /**
   * Sends the draft unless it equals what the node last got. `seal` adds a task's secrets and
   * credentials (a fresh sealing each time, so unchanged tasks keep their sealed copy).
   */
  async send(draft: AssignmentDraft, seal: (t: AssignedTask) => AssignedTask): Promise<SendResult> {
    const drafts = new Map(draft.tasks.map((t) => [t.id, JSON.stringify(t)]));
    const key = JSON.stringify([draft.head, [...drafts.values()]]);
    const prev = this.sent.get(draft.nodeId);
    // Never back: a draft worked out before the one last sent is already out of date.
    if (prev && (prev.key === key || draft.version < prev.full.version)) return 'unchanged';
    const sealed = new Map((prev?.full.tasks ?? []).map((t) => [t.id, t]));
    const full: Assignment = {
      v: 1,
      version: draft.version,
      nodeId: draft.nodeId,
      ...draft.head,
      tasks: draft.tasks.map((t) => {
        const same = prev?.drafts.get(t.id) === drafts.get(t.id);
        return (same ? sealed.get(t.id) : undefined) ?? seal(t);
      }),
    };
    this.sent.set(draft.nodeId, { key, full, drafts });
    const topic = topics.assignments(draft.nodeId);
    const useDelta =
      prev !== undefined && this.deltaNodes.has(draft.nodeId) && full.version > prev.full.version;
    try {
      if (!useDelta) {
        await this.broker.publish(topic, encode(full), { retain: true, qos: 1 });
        return 'full';
      }
      // The retained copy first: an agent that asks again after this delta gets this set or newer.
      await this.broker.retainOnly(topic, encode(full));
      const delta = makeDelta(prev.full, full);
      await this.broker.publish(assignmentDeltaTopic(draft.nodeId), encode(delta), { qos: 1 });
      return 'delta';
    } catch (e) {
      this.sent.delete(draft.nodeId);
      this.logger.error('could not publish assignment', {
        nodeId: draft.nodeId,
        error: String(e),
      });
      return 'unchanged';
    }
  }

  forget(nodeId: string): void {
    this.sent.delete(nodeId);
    this.deltaNodes.delete(nodeId);
  }

  /** No longer leading: clears every retained assignment this broker holds and forgets them. */
  withdrawAll(): void {
    for (const nodeId of this.sent.keys()) {
      // An empty retained message clears it: an agent must never take orders from a follower.
      this.broker
        .publish(topics.assignments(nodeId), Buffer.alloc(0), { retain: true, qos: 0 })
        .catch(() => undefined);
    }
    this.sent.clear();
    this.deltaNodes.clear();
  }
}
