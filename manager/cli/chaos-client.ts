// Signs a fault order with an admin identity and hands it to a manager through chaos.send, as the soak runner does.
import type { ChaosOrder, ChaosResult, Fault } from '../../shared/chaos.js';
import { signChaos } from '../../shared/chaos.js';
import type { Clock } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import type { RpcClient } from './rpc-client.js';

/**
 * How long the manager waits for an agent's answer unless told: under the CLI's own wait for a
 * reply (5 s by default), so a silent agent is reported as such rather than as a silent manager.
 */
export const CHAOS_ANSWER_WAIT_MS = 4_000;

/**
 * Sends one fault order. A manager fault must reach the manager it names: give a client made
 * with `pinned: true` and that manager's address alone. An agent fault goes to the manager the
 * agent is connected to, the leader (agents follow it): any client that follows the leader.
 */
export function sendChaos(
  client: RpcClient,
  admin: Identity,
  target: string,
  fault: Fault,
  durationMs: number,
  params: ChaosOrder['params'],
  clock: Clock,
  waitMs = CHAOS_ANSWER_WAIT_MS,
): Promise<ChaosResult> {
  const signed = signChaos(admin, { target, fault, durationMs, params }, clock.now());
  return client.call('chaos.send', { signed, timeoutMs: waitMs });
}
