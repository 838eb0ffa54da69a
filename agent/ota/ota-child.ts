// The agent's side of the upgrade supervisor: say healthy, say a self-check failed, ask for a switch.
import { systemClock, type Clock } from '../../shared/clock.js';
import { loadState } from './ota-state-file.js';
import {
  OTA_CHILD_ENV,
  OTA_RELEASE_ENV,
  OTA_TRIAL_ENV,
  supervisorMessageSchema,
  type ChildMessage,
} from './ipc.js';
import type { OtaState } from './ota-state.js';

/** How long a switch request waits for the supervisor's answer. */
const SWITCH_ANSWER_MS = 60_000;

export interface OtaChild {
  /** The release this agent was started as (its version). */
  readonly release: string;
  /** Whether this agent is on trial: it must report healthy within the monitor period. */
  readonly trial: boolean;
  /** Connected and reconciled: the supervisor may commit this release. Sent once. */
  reportHealthy(): void;
  /** The agent cannot work; resolves once the supervisor has the message. */
  reportSelfCheckFailed(reason: string): Promise<void>;
  /** Asks to switch to a release staged with stageRelease(); resolves with the answer. */
  requestSwitch(version: string): Promise<{ ok: boolean; reason?: string }>;
  /** The upgrade state as persisted: current and previous releases, the last failed trial. */
  state(dataDir: string): OtaState;
}

/** The link to the supervisor when this agent runs under one (FLEET_OTA_CHILD=1), else undefined. */
export function otaChild(clock: Clock = systemClock): OtaChild | undefined {
  const send = process.send?.bind(process);
  if (process.env[OTA_CHILD_ENV] !== '1' || !send) return undefined;
  // The supervisor is gone (killed): stop the normal way, which leaves every task running; the
  // supervisor that comes back starts an agent of its own.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // The channel must not keep the agent alive once it has stopped (the agent holds itself open
  // while it runs); without this a stopped agent would never exit and its supervisor would wait.
  process.channel?.unref();
  const post = (m: ChildMessage): Promise<void> =>
    new Promise((resolve) => {
      if (!process.connected) return resolve();
      send(m, undefined, undefined, () => resolve());
    });
  let healthySent = false;
  return {
    release: process.env[OTA_RELEASE_ENV] ?? 'unknown',
    trial: process.env[OTA_TRIAL_ENV] === '1',
    reportHealthy: () => {
      if (healthySent) return;
      healthySent = true;
      void post({ type: 'healthy' });
    },
    reportSelfCheckFailed: (reason) => post({ type: 'self-check-failed', reason }),
    requestSwitch: (version) => switchAnswer(version, post, clock),
    state: (dataDir) => loadState(dataDir).state,
  };
}

function switchAnswer(
  version: string,
  post: (m: ChildMessage) => Promise<void>,
  clock: Clock,
): Promise<{ ok: boolean; reason?: string }> {
  return new Promise((resolve) => {
    const onMessage = (raw: unknown): void => {
      const m = supervisorMessageSchema.safeParse(raw);
      if (!m.success || m.data.type !== 'switch-result' || m.data.version !== version) return;
      done(m.data.ok ? { ok: true } : { ok: false, reason: m.data.reason ?? 'refused' });
    };
    const timer = clock.setTimeout(
      () => done({ ok: false, reason: 'the supervisor did not answer' }),
      SWITCH_ANSWER_MS,
    );
    const done = (r: { ok: boolean; reason?: string }): void => {
      clock.clearTimeout(timer);
      process.off('message', onMessage);
      resolve(r);
    };
    process.on('message', onMessage);
    void post({ type: 'switch', version });
  });
}

/**
 * Starts the agent under the supervisor's eye: the self-check first, then the start itself;
 * either failing is reported with its reason (so the fall back says why) and rethrown. Without
 * a supervisor it is just start().
 */
export async function startChecked<A>(
  ota: OtaChild | undefined,
  check: () => Promise<string | undefined>,
  start: () => Promise<A>,
): Promise<A> {
  if (!ota) return start();
  const failed = await check();
  if (failed !== undefined) {
    await ota.reportSelfCheckFailed(failed);
    throw new Error(`self-check failed: ${failed}`);
  }
  try {
    return await start();
  } catch (e) {
    await ota.reportSelfCheckFailed(e instanceof Error ? e.message : String(e));
    throw e;
  }
}
