// The A/B upgrade state of a board as data, and its transitions: switch → trial → commit or fall back.
import { z } from 'zod';

/**
 * Mender/RAUC's shape: each transition is a pure function of the state, the caller persists
 * its result (ota-state-file.ts) before acting on it, so a power cut at any point leaves a
 * state that says what to do next. `current` always names a committed release; during a trial
 * the new one is `trial.version` and the release to go back to is `trial.from` (= current).
 */

/** The release the board was installed with: the bundle the supervisor itself runs from. */
export const FACTORY = 'factory';

const versionName = z.string().min(1).max(64);

export const otaStateSchema = z.object({
  v: z.literal(1),
  /** The committed release: a version under ota/releases/, or FACTORY. */
  current: versionName,
  /** The release committed before current, kept on disk to go back to by hand. */
  previous: versionName.optional(),
  /** A switch under way: set before the old agent stops, cleared by commit or fall back. */
  trial: z
    .object({
      version: versionName,
      from: versionName,
      /** Persisted true before the new release first runs: found true at start = it never committed. */
      started: z.boolean(),
      /** Clock time by which the new release must report healthy. */
      deadline: z.number().optional(),
    })
    .optional(),
  /** Why the last trial failed, kept to be reported to the managers. */
  lastFailure: z.object({ version: versionName, reason: z.string(), at: z.number() }).optional(),
  committedAt: z.number().optional(),
});
export type OtaState = z.infer<typeof otaStateSchema>;
export type Trial = NonNullable<OtaState['trial']>;

/** A transition asked for in a state that does not allow it (a caller's mistake or a race). */
export class OtaStateError extends Error {
  override readonly name = 'OtaStateError';
}

export function initialState(): OtaState {
  return { v: 1, current: FACTORY };
}

/** The release to run now: the trial's once it started, else the committed one. */
export function releaseToRun(s: OtaState): string {
  return s.trial?.started ? s.trial.version : s.current;
}

/** Releases that must stay on disk: the committed one, the one before it, the one on trial. */
export function releasesInUse(s: OtaState): Set<string> {
  const keep = new Set([s.current]);
  if (s.previous) keep.add(s.previous);
  if (s.trial) keep.add(s.trial.version);
  return keep;
}

/** Step 1: the switch to a staged release is decided (the old agent still runs). */
export function beginSwitch(s: OtaState, version: string): OtaState {
  if (s.trial) throw new OtaStateError(`a switch to ${s.trial.version} is already under way`);
  if (version === s.current) throw new OtaStateError(`release ${version} is already running`);
  return { ...s, trial: { version, from: s.current, started: false } };
}

/** Step 2: persisted just before the new release first runs; from here a restart means failure. */
export function startTrial(s: OtaState, now: number, monitorMs: number): OtaState {
  if (!s.trial) throw new OtaStateError('no switch is under way');
  if (s.trial.started) throw new OtaStateError(`the trial of ${s.trial.version} already started`);
  return { ...s, trial: { ...s.trial, started: true, deadline: now + monitorMs } };
}

/** Step 3a: the new release reported healthy in time; it becomes current. */
export function commitTrial(s: OtaState, now: number): OtaState {
  if (!s.trial?.started) throw new OtaStateError('no trial has started');
  const { trial: _t, ...rest } = s;
  return { ...rest, current: s.trial.version, previous: s.trial.from, committedAt: now };
}

/** Step 3b: the new release failed (or never started); the board goes back to trial.from. */
export function fallBack(s: OtaState, reason: string, now: number): OtaState {
  if (!s.trial) throw new OtaStateError('no switch is under way');
  const { trial: _t, ...rest } = s;
  return {
    ...rest,
    current: s.trial.from,
    lastFailure: { version: s.trial.version, reason, at: now },
  };
}

/**
 * What a supervisor that is just starting does with the state it finds: a trial that had
 * started never committed (the supervisor or the board died during it) and is abandoned, so a
 * release that kills the board can never loop; a switch not yet started is carried on.
 */
export function recoverAtStart(s: OtaState, now: number): OtaState {
  if (!s.trial?.started) return s;
  return fallBack(
    s,
    `the supervisor restarted during the trial of ${s.trial.version}, before it was committed`,
    now,
  );
}

/** The committed release cannot run (missing or damaged on disk): go back to the one before. */
export function demoteCurrent(s: OtaState, reason: string, now: number): OtaState {
  if (s.current === FACTORY) throw new OtaStateError('the factory release cannot be demoted');
  const { trial: _t, previous, ...rest } = s;
  const back = previous && previous !== s.current ? previous : FACTORY;
  return { ...rest, current: back, lastFailure: { version: s.current, reason, at: now } };
}
