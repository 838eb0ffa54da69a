// Builds a manager's answer to chaos.send from its running parts: the router, its own faults, and their stop.
import type { ParsedParams } from '../../shared/api.js';
import type { LocalMethod } from '../../shared/api-chaos.js';
import { ChaosRouter } from '../api/chaos-handler.js';
import type { WireDeps } from '../wiring.js';
import { ManagerFaults } from './manager-faults.js';

export interface ServedChaos {
  local: (method: LocalMethod, input: unknown) => Promise<unknown>;
  stop(): void;
}

/** The heartbeat lag over ready nodes with an agent (ms): the median and the largest; none off the leader. */
function heartbeatLag(
  w: WireDeps,
  age: (nodeId: string) => number | undefined,
): { p50: number; max: number } | undefined {
  const lags: number[] = [];
  for (const n of w.store.nodes()) {
    if (n.status !== 'ready' || (n.manager && !n.manager.worker)) continue;
    const a = age(n.id);
    if (a !== undefined) lags.push(a);
  }
  if (lags.length === 0) return undefined;
  lags.sort((a, b) => a - b);
  return { p50: lags[Math.floor(lags.length / 2)] ?? 0, max: lags[lags.length - 1] ?? 0 };
}

export function serveChaos(
  w: WireDeps,
  heartbeatAge: (nodeId: string) => number | undefined,
): ServedChaos {
  const faults = new ManagerFaults({
    selfId: w.id,
    rootPub: () => w.store.cluster()?.rootPub ?? null,
    clock: w.clock,
    logger: w.logger.child('chaos'),
    chaos: w.opts.chaos,
    setPartition: (ids) => w.transport.setPartition(ids),
    lag: () => heartbeatLag(w, heartbeatAge),
    peers: () => {
      const { voters, learners } = w.raft.status().conf;
      return [...voters, ...learners].filter((id) => id !== w.id);
    },
  });
  const router = new ChaosRouter({
    selfId: w.id,
    broker: w.broker,
    clock: w.clock,
    logger: w.logger.child('chaos'),
    faults,
  });
  return {
    // The RPC server parsed the input with chaos.send's schema.
    local: (_method, input) => router.send(input as ParsedParams<'chaos.send'>),
    stop: () => {
      router.stop();
      faults.close();
    },
  };
}
