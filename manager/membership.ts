// The leader's membership controller: turns node records' roles into Raft voters and learners.
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { RaftHost } from './raft/host.js';
import type { Status } from './raft/core/index.js';
import type { Store } from './store/store.js';

const PERIOD_MS = 500;
/** A learner this close to the leader's commit index may vote without stalling commits. */
const CAUGHT_UP_SLACK = 20;

export type MembershipStep =
  | { kind: 'promote'; id: string }
  | { kind: 'demote'; id: string }
  | { kind: 'remove'; id: string }
  | { kind: 'transfer'; to: string }
  | null;

/**
 * What to change next, one step at a time (Raft changes one member at a time):
 * - a manager whose record was removed leaves the group (never this leader itself);
 * - a learner whose record says manager becomes a voter once it has caught up;
 * - a voter whose record says worker (demoted) becomes a learner; the leader hands over first.
 */
export function nextMembershipStep(
  self: string,
  status: Status,
  roleOf: (id: string) => 'worker' | 'manager' | undefined,
): MembershipStep {
  const { voters, learners } = status.conf;
  for (const id of [...voters, ...learners]) {
    if (id !== self && roleOf(id) === undefined && (voters.length > 1 || learners.includes(id)))
      return { kind: 'remove', id };
  }
  for (const id of learners) {
    const p = status.progress?.[id];
    if (
      roleOf(id) === 'manager' &&
      p &&
      p.recentActive &&
      p.match + CAUGHT_UP_SLACK >= status.commit
    )
      return { kind: 'promote', id };
  }
  for (const id of voters) {
    if (roleOf(id) !== 'worker' || voters.length <= 1) continue;
    if (id !== self) return { kind: 'demote', id };
    const to = bestSuccessor(self, status);
    if (to) return { kind: 'transfer', to };
  }
  return null;
}

function bestSuccessor(self: string, status: Status): string | null {
  let best: { id: string; match: number } | null = null;
  for (const id of status.conf.voters) {
    const p = status.progress?.[id];
    if (id === self || !p || !p.recentActive) continue;
    if (!best || p.match > best.match) best = { id, match: p.match };
  }
  return best?.id ?? null;
}

export class MembershipController {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly self: string,
    private readonly host: RaftHost,
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.pass(), PERIOD_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async pass(): Promise<void> {
    if (this.busy || !this.host.isLeader) return;
    const step = nextMembershipStep(
      this.self,
      this.host.status(),
      (id) => this.store.node(id)?.role,
    );
    if (!step) return;
    this.busy = true;
    try {
      this.logger.info('membership change', { ...step });
      if (step.kind === 'transfer') this.host.transferLeadership(step.to);
      else {
        const op =
          step.kind === 'promote' ? 'add-voter' : step.kind === 'demote' ? 'add-learner' : 'remove';
        await this.host.changeMembership({ op, id: step.id });
      }
    } catch (e) {
      this.logger.warn('membership change did not complete; will retry', {
        ...step,
        error: errorMessage(e),
      });
    } finally {
      this.busy = false;
    }
  }
}
