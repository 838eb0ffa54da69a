// One call for an upgrade order reaching the agent: stage the signed release, then ask the supervisor to switch.
import { FLEET_VERSION } from '../../shared/version.js';
import type { OtaChild } from './ota-child.js';
import { isStageError, stageRelease, type StageOptions } from './stage.js';

export interface UpgradeOrder {
  dataDir: string;
  /** identity.rootPub: only a release the cluster's root key signed is staged. */
  rootPub: string;
  /** The signed manifest as received (shared/ota/release.ts). */
  release: unknown;
  bundle: StageOptions['bundle'];
  allowDowngrade?: boolean;
}

export type UpgradeAnswer = { ok: true; version: string } | { ok: false; reason: string };

/**
 * Stages the release and asks the supervisor to switch to it. On `ok` the supervisor has
 * recorded the switch and is about to stop this agent (SIGTERM, the normal stop); the outcome
 * of the trial is then in the new agent's report (OtaChild.state().lastFailure when it failed).
 */
export async function upgradeAgent(
  ota: OtaChild | undefined,
  order: UpgradeOrder,
): Promise<UpgradeAnswer> {
  if (!ota)
    return {
      ok: false,
      reason: 'this agent does not run under the upgrade supervisor (--supervise)',
    };
  let version: string;
  try {
    const staged = await stageRelease({ ...order, runningVersion: FLEET_VERSION });
    version = staged.manifest.version;
  } catch (e) {
    if (isStageError(e)) return { ok: false, reason: e.message };
    throw e;
  }
  const answer = await ota.requestSwitch(version);
  return answer.ok ? { ok: true, version } : { ok: false, reason: answer.reason ?? 'refused' };
}
