// What the upgrade supervisor is started with, and the named steps a crash test can stop it at.
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { SavePoint } from './ota-state-file.js';

export interface SupervisorOptions {
  dataDir: string;
  /** The bundle this supervisor runs from and its version: the release used when none is staged. */
  factory: { bundle: string; version: string };
  /** What follows the bundle when starting a release (`agent start --data-dir ...`). */
  args: string[];
  /** Node.js flags for the releases (the supervisor's own execArgv). */
  nodeFlags: string[];
  /** How long a new release has to report healthy. */
  monitorMs: number;
  clock: Clock;
  logger: Logger;
  /** The cluster's root key, which must have signed a release before it runs. */
  rootPub: () => Promise<string | undefined>;
  /** How long a stopping agent may take before SIGKILL (default 30 s; a failed trial gets 5 s at most). */
  stopGraceMs?: number;
  /** Called at each named step, synchronously; crash tests kill the process there. */
  at?: (point: SupervisorPoint) => void;
}

export type SupervisorPoint =
  | SavePoint
  | 'switch-decided'
  | 'old-stopped'
  | 'trial-started'
  | 'trial-spawned'
  | 'healthy-received'
  | 'committed';
