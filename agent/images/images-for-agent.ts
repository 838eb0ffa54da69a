// Builds an agent's image store from its options and the links it has to the manager and its neighbours.
import type { Clock } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import { DEFAULT_BLOB_PORT, type AgentOptions } from '../reconcile/agent-options.js';
import { AgentImages } from './agent-images.js';

export interface ImageLinks {
  clientId: () => string;
  publish: (topic: string, payload: Buffer) => boolean;
  identity: () => Identity;
  /** Something a status report shows changed (a download's progress, an image ready). */
  changed: () => void;
}

export function imagesForAgent(opts: AgentOptions, clock: Clock, links: ImageLinks): AgentImages {
  return new AgentImages({
    dataDir: opts.dataDir,
    ...links,
    clock,
    logger: opts.logger.child('images'),
    maxBandwidth: opts.maxBandwidth ?? 0,
    peerListen:
      opts.blobPort === null
        ? null
        : { host: opts.advertiseAddr, port: opts.blobPort ?? DEFAULT_BLOB_PORT },
  });
}
