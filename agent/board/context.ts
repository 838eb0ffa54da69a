// What every board setup step is given: the root it works under, the settings, and how to run tools.
import path from 'node:path';
import type { BoardSettings } from '../../shared/board-settings.js';
import type { Clock } from '../../shared/clock.js';
import type { RunTool } from './run-tool.js';

export interface SetupContext {
  /** The root every system path is under: `/` on a board, a directory in tests. */
  readonly root: string;
  /**
   * True when `root` is the running system's `/`: only then does a step touch running state
   * (the kernel's host name, the partition table of the root disk, services).
   */
  readonly live: boolean;
  readonly settings: BoardSettings;
  readonly run: RunTool;
  /** For waits (a network interface that appears late); never Date.now or raw timers. */
  readonly clock: Clock;
}

/** A system path (`/etc/hostname`) under the context's root. */
export const under = (ctx: Pick<SetupContext, 'root'>, p: string): string => path.join(ctx.root, p);

/** A step returns one line saying what it did or why it skipped; it throws when it failed. */
export type SetupStep = (ctx: SetupContext) => Promise<string>;
