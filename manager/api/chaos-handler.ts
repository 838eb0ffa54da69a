// The API's chaos.send: a manager fault aimed at this manager is carried out here; any other order goes to its agent.
import type { ParsedParams } from '../../shared/api.js';
import {
  AGENT_FAULTS,
  chaosOrderSchema,
  chaosResultSchema,
  chaosTopics,
  type ChaosOrder,
  type ChaosResult,
} from '../../shared/chaos.js';
import type { Clock } from '../../shared/clock.js';
import { FleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { PREFIX, decode } from '../../shared/protocol.js';
import type { Broker } from '../broker/broker.js';
import type { ManagerFaults } from '../chaos/manager-faults.js';
import type { Handler } from './context.js';

/** chaos.send never reaches the store's handlers: the RPC server hands it to the ChaosRouter. */
export const chaosStub: { 'chaos.send': Handler<'chaos.send'> } = {
  'chaos.send': () => {
    throw new FleetError('unavailable', 'chaos.send is not served by this manager');
  },
};

export interface ChaosRouterDeps {
  selfId: string;
  broker: Broker;
  clock: Clock;
  logger: Logger;
  faults: ManagerFaults;
}

const MANAGER_ONLY = new Set<string>(['kill-manager', 'restart-manager', 'partition-manager']);
const AGENT_ONLY = new Set<string>(AGENT_FAULTS.filter((f) => f !== 'stats'));

/** Answers chaos.send; agents' answers arrive on their result topics through this broker. */
export class ChaosRouter {
  private readonly waiting = new Map<string, { target: string; done: (r: ChaosResult) => void }>();
  private readonly unsubscribe: () => void;

  constructor(private readonly d: ChaosRouterDeps) {
    this.unsubscribe = d.broker.onMessage(`${PREFIX}/nodes/`, (topic, payload, principal) => {
      if (!topic.endsWith('/chaos-result') || principal?.kind !== 'node') return;
      if (topic !== chaosTopics.result(principal.id)) return;
      this.onResult(principal.id, payload);
    });
  }

  async send(p: ParsedParams<'chaos.send'>): Promise<ChaosResult> {
    const order = peek(p.signed.order);
    const self = order.target === this.d.selfId;
    if (MANAGER_ONLY.has(order.fault) || (self && !AGENT_ONLY.has(order.fault))) {
      if (!self)
        throw new FleetError(
          'invalid_argument',
          `${order.fault} is carried out by the manager it names: send it to manager ${order.target} itself`,
        );
      return this.d.faults.carryOut(p.signed);
    }
    return this.forward(order, p.signed, p.timeoutMs);
  }

  stop(): void {
    this.unsubscribe();
    for (const [id, w] of this.waiting)
      w.done({ id, ok: false, error: 'the manager stopped before the node answered' });
    this.waiting.clear();
  }

  /** Publishes the signed order to the agent and waits for its answer with the same id. */
  private async forward(
    order: ChaosOrder,
    signed: ParsedParams<'chaos.send'>['signed'],
    timeoutMs: number,
  ): Promise<ChaosResult> {
    const { clock, broker } = this.d;
    if (this.waiting.has(order.id))
      throw new FleetError('conflict', `order ${order.id} is already on its way`);
    const answer = new Promise<ChaosResult | null>((resolve) => {
      const timer = clock.setTimeout(() => {
        this.waiting.delete(order.id);
        resolve(null);
      }, timeoutMs);
      const done = (r: ChaosResult): void => {
        clock.clearTimeout(timer);
        this.waiting.delete(order.id);
        resolve(r);
      };
      this.waiting.set(order.id, { target: order.target, done });
    });
    const payload = Buffer.from(JSON.stringify(signed));
    await broker.publish(chaosTopics.order(order.target), payload, { qos: 1 });
    const r = await answer;
    if (r) return r;
    throw new FleetError(
      'unavailable',
      `node ${order.target} did not answer within ${timeoutMs} ms: it is not connected to this manager (agents follow the leader), or not running, or does not take fault orders`,
    );
  }

  private onResult(nodeId: string, payload: Buffer): void {
    const d = decode(chaosResultSchema, payload);
    if (!d.ok) return this.d.logger.warn('dropped chaos result', { nodeId, reason: d.reason });
    const w = this.waiting.get(d.value.id);
    // An answer from another node under this id is not the one waited for.
    if (w?.target === nodeId) w.done(d.value);
  }
}

/** The order's routing fields, read before any check: the target checks the signature. */
function peek(text: string): ChaosOrder {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new FleetError('invalid_argument', 'the fault order is not JSON');
  }
  const parsed = chaosOrderSchema.safeParse(raw);
  if (!parsed.success)
    throw new FleetError(
      'invalid_argument',
      `the fault order has the wrong shape: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim(),
    );
  return parsed.data;
}
