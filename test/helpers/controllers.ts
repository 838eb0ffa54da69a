// Leader-only controllers on an in-memory store with a fake clock, for unit tests of their logic.
import type { Controller, ControllerDeps } from '../../manager/leader/controller.js';
import { Store } from '../../manager/store/store.js';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger } from '../../shared/log.js';
import type { NodeRecord } from '../../shared/spec.js';

export interface MemoryControllers {
  store: Store;
  clock: FakeClock;
  /** Stops the controllers and closes the store. */
  stop: () => void;
}

/**
 * A store holding these nodes, whose proposals apply at once (no Raft), and the controllers
 * `make` builds on it, started.
 */
export function startControllers(
  nodes: NodeRecord[],
  make: (deps: ControllerDeps) => Controller[],
): MemoryControllers {
  const store = new Store(':memory:');
  const clock = new FakeClock();
  store.apply({ commands: nodes.map((node) => ({ type: 'node.put' as const, node })) });
  const propose = async (p: Parameters<Store['apply']>[0]) => store.apply(p);
  const controllers = make({ store, propose, logger: memoryLogger(), clock });
  for (const c of controllers) c.start();
  return {
    store,
    clock,
    stop() {
      for (const c of controllers) c.stop();
      store.close();
    },
  };
}
