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

export function serveChaos(w: WireDeps): ServedChaos {
  const faults = new ManagerFaults({
    selfId: w.id,
    rootPub: () => w.store.cluster()?.rootPub ?? null,
    clock: w.clock,
    logger: w.logger.child('chaos'),
    chaos: w.opts.chaos,
    setPartition: (ids) => w.transport.setPartition(ids),
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
