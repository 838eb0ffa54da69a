// Carries out the manager's upgrade order (an assignment's agentRelease): fetch the bundle, stage it, ask the supervisor to switch; reports where it stands.
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { AgentRelease, UpgradeReport } from '../../shared/ota/upgrade-protocol.js';
import { FLEET_VERSION } from '../../shared/version.js';
import type { OtaChild } from './ota-child.js';
import { upgradeAgent } from './upgrade.js';

export interface AgentUpgraderDeps {
  dataDir: string;
  rootPub: string;
  /** The link to the supervisor; absent when the agent was not started with --supervise. */
  ota: OtaChild | undefined;
  /** Fetches a blob from the cluster (verified) and returns the path of its file. */
  fetchBundle(digest: string, size: number): Promise<string>;
  clock: Clock;
  logger: Logger;
  /** The report changed: send a status. */
  changed(): void;
}

export class AgentUpgrader {
  private current: UpgradeReport | undefined;
  /** `rollout|version` pairs that failed here: not tried again for the same rollout. */
  private readonly failed = new Set<string>();
  /** The version being worked on now, so a repeated assignment starts nothing new. */
  private busy: string | undefined;

  constructor(private readonly deps: AgentUpgraderDeps) {
    // A release that failed its trial left the reason with the supervisor: say it once connected.
    const last = deps.ota?.state(deps.dataDir).lastFailure;
    if (last && last.version !== FLEET_VERSION) {
      this.current = { state: 'failed', version: last.version, reason: last.reason, at: last.at };
      this.failed.add(`|${last.version}`);
    }
  }

  /** What the status report says (absent: nothing to say). */
  report(): UpgradeReport | undefined {
    return this.current;
  }

  /** Called with every assignment: starts the order it names, unless done, under way or failed. */
  onAssignment(release: AgentRelease | undefined): void {
    if (!release || release.version === FLEET_VERSION || release.version === this.busy) return;
    const key = `${release.rollout ?? ''}|${release.version}`;
    if (this.failed.has(key) || this.failed.has(`|${release.version}`)) return;
    this.busy = release.version;
    void this.carryOut(release, key).finally(() => {
      this.busy = undefined;
    });
  }

  private async carryOut(release: AgentRelease, key: string): Promise<void> {
    const { deps } = this;
    const { signature, rollout: _rollout, ...manifest } = release;
    this.set({ state: 'downloading', version: release.version });
    try {
      if (!deps.ota) throw new Error('this agent does not run under the upgrade supervisor');
      const file = await deps.fetchBundle(`sha256:${manifest.sha256}`, manifest.size);
      this.set({ state: 'switching', version: release.version });
      const answer = await upgradeAgent(deps.ota, {
        dataDir: deps.dataDir,
        rootPub: deps.rootPub,
        release: { manifest, sig: signature },
        bundle: { file },
      });
      if (answer.ok) {
        deps.logger.info('switching to another agent release', { version: answer.version });
        return;
      }
      throw new Error(answer.reason);
    } catch (e) {
      const reason = errorMessage(e);
      deps.logger.warn('agent upgrade refused', { version: release.version, reason });
      this.failed.add(key);
      this.set({ state: 'failed', version: release.version, reason: reason.slice(0, 1000) });
    }
  }

  private set(r: Omit<UpgradeReport, 'at'>): void {
    this.current = { ...r, at: this.deps.clock.now() };
    this.deps.changed();
  }
}
