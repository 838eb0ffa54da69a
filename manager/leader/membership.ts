// The leader's membership controller: turns node records' roles into Raft voters and learners.
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { LeaderPart } from './controller.js';
import type { RaftHost } from '../raft/host.js';
import type { Status } from '../raft/core/index.js';
import type { StoreView } from '../store/view.js';

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

/** The Raft host as membership sees it: its status and the changes it can make. */
export type MembershipHost = Pick<
  RaftHost,
  'isLeader' | 'status' | 'transferLeadership' | 'changeMembership'
>;

export interface MembershipDeps {
  /** This manager's id. */
  self: string;
  host: MembershipHost;
  store: StoreView;
  logger: Logger;
  clock?: Clock;
}

export class MembershipController implements LeaderPart {
  private timer: TimerHandle | undefined;
  private busy = false;
  private readonly clock: Clock;

  constructor(private readonly deps: MembershipDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  start(): void {
    this.timer ??= this.clock.setInterval(() => void this.pass(), PERIOD_MS);
  }

  stop(): void {
    if (this.timer) this.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the records and the group; at most one change in flight. */
  private async pass(): Promise<void> {
    const { host, store, logger } = this.deps;
    if (this.busy || !host.isLeader) return;
    const step = nextMembershipStep(this.deps.self, host.status(), (id) => store.node(id)?.role);
    if (!step) return;
    this.busy = true;
    try {
      logger.info('membership change', { ...step });
      if (step.kind === 'transfer') host.transferLeadership(step.to);
      else {
        const op =
          step.kind === 'promote' ? 'add-voter' : step.kind === 'demote' ? 'add-learner' : 'remove';
        await host.changeMembership({ op, id: step.id });
      }
    } catch (e) {
      logger.warn('membership change did not complete; will retry', {
        ...step,
        error: errorMessage(e),
      });
    } finally {
      this.busy = false;
    }
  }
}
