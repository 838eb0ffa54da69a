// Makes the agent's upgrader from its options: bundles come from the managers through the image blob store.
import { systemClock } from '../../shared/clock.js';
import type { AgentImages } from '../images/agent-images.js';
import type { AgentOptions } from '../reconcile/agent-options.js';
import { AgentUpgrader } from './upgrade-order.js';

export type { AgentUpgrader };

export function upgraderFor(
  opts: AgentOptions,
  images: AgentImages,
  changed: () => void,
): AgentUpgrader {
  return new AgentUpgrader({
    dataDir: opts.dataDir,
    rootPub: opts.identity.rootPub,
    ota: opts.ota,
    fetchBundle: (digest, size) => images.fetchFile(digest, size),
    clock: opts.clock ?? systemClock,
    logger: opts.logger.child('upgrade'),
    changed,
  });
}
