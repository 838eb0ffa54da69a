// `board setup`: reads fleet.json and runs each setup step, one line each; a failed step does not stop the others.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { readBoardSettings } from '../board-config.js';
import type { SetupContext, SetupStep } from './context.js';
import { growRoot } from './grow-root.js';
import { applyHostname } from './hostname.js';
import type { RunTool } from './run-tool.js';
import { applySsh } from './ssh.js';
import { applyTimezone } from './timezone.js';
import { applyWifi } from './wifi.js';

/** The steps in the order they run: the disk first, the network's settings last. */
export const SETUP_STEPS: readonly (readonly [string, SetupStep])[] = [
  ['root partition', growRoot],
  ['hostname', applyHostname],
  ['ssh', applySsh],
  ['wifi', applyWifi],
  ['time zone', applyTimezone],
];

export interface BoardSetupOptions {
  /** fleet.json, as given (not under `root`). */
  readonly config: string;
  readonly root: string;
  readonly run: RunTool;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  readonly steps?: readonly (readonly [string, SetupStep])[];
}

export interface BoardSetupResult {
  /** Names of the steps that failed. */
  readonly failed: string[];
  /** True when there was no fleet.json and nothing was done. */
  readonly noSettings: boolean;
}

/**
 * Runs every step against `root`. A missing fleet.json is not an error (a board that joined
 * and whose file was deleted still boots); a file that cannot be read or parsed is thrown.
 */
export async function runBoardSetup(opts: BoardSetupOptions): Promise<BoardSetupResult> {
  const started = opts.clock.now();
  const missing = await fs.stat(opts.config).then(
    () => false,
    (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
  );
  if (missing) {
    opts.log(`no ${opts.config}: nothing to set up, the system stays as it is`);
    return { failed: [], noSettings: true };
  }
  const settings = await readBoardSettings(opts.config);
  const root = path.resolve(opts.root);
  const ctx: SetupContext = {
    root,
    live: root === '/',
    settings,
    run: opts.run,
    clock: opts.clock,
  };
  const failed: string[] = [];
  for (const [name, step] of opts.steps ?? SETUP_STEPS) {
    try {
      opts.log(`${name}: ${await step(ctx)}`);
    } catch (e) {
      failed.push(name);
      opts.log(`${name}: FAILED: ${errorMessage(e)}`);
    }
  }
  const took = ((opts.clock.now() - started) / 1000).toFixed(1);
  opts.log(
    failed.length === 0 ? `done in ${took} s` : `done in ${took} s; failed: ${failed.join(', ')}`,
  );
  return { failed, noSettings: false };
}
