// The faults on an agent's link to the managers: a cut link, and outgoing messages dropped, delayed or sent twice.
import type { Clock } from '../../shared/clock.js';

/** The end of every node's result topic (chaosTopics.result): fleet/v1/nodes/<id>/chaos-result. */
const RESULT_TAIL = '/chaos-result';

export type MessageFault = 'drop' | 'delay' | 'duplicate';

export interface MessageFaultSettings {
  /** The share of outgoing messages hit, 0..1. */
  rate: number;
  /** How long a delayed message is held back. */
  delayMs: number;
}

/**
 * Consulted by the connection (agent/link/connection.ts) on every publish and before every
 * connection attempt. The answers to fault orders are never hit: the soak must hear them.
 */
export class LinkFaults {
  private readonly message = new Map<MessageFault, MessageFaultSettings>();
  private cutLink = false;

  constructor(
    private readonly clock: Clock,
    private readonly random: () => number,
  ) {}

  /** While true, the connection makes no attempt to reach a manager. */
  get cut(): boolean {
    return this.cutLink;
  }

  setCut(cut: boolean): void {
    this.cutLink = cut;
  }

  set(fault: MessageFault, settings: MessageFaultSettings | null): void {
    if (settings) this.message.set(fault, settings);
    else this.message.delete(fault);
  }

  /** Sends an outgoing message through the faults in force: not at all, later, once or twice. */
  outgoing(topic: string, send: () => void): void {
    if (this.message.size === 0 || topic.endsWith(RESULT_TAIL)) return send();
    const drop = this.message.get('drop');
    if (drop && this.random() < drop.rate) return;
    const delay = this.message.get('delay');
    const twice = this.message.get('duplicate');
    const times = twice && this.random() < twice.rate ? 2 : 1;
    const sendAll = (): void => {
      for (let i = 0; i < times; i++) send();
    };
    if (delay && this.random() < delay.rate) this.clock.setTimeout(sendAll, delay.delayMs);
    else sendAll();
  }
}
