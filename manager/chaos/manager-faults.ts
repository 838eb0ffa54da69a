// The faults a manager carries out on itself (kill, restart, partition from the other managers), and its stats.
import type { ChaosOrder, ChaosResult, SignedChaos } from '../../shared/chaos.js';
import { verifyChaos } from '../../shared/chaos.js';
import { ChaosGuard } from '../../shared/chaos-guard.js';
import { processStats } from '../../shared/chaos-stats.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';

/** What `manager start --allow-chaos` hands its manager: the one part that can restart it. */
export interface ManagerChaosHost {
  /**
   * Stops the manager (hard: at once, as a crash would; soft: a clean stop) and starts it again
   * from the same options after `downMs`, in the same process.
   */
  restart(hard: boolean, downMs: number): void;
}

export interface ManagerChaosOptions {
  /** Carry out faults (`--allow-chaos`); without it every order but stats is refused. */
  allow: boolean;
  host?: ManagerChaosHost;
}

export interface ManagerFaultDeps {
  selfId: string;
  /** The cluster root key admins' certificates chain to; null before the cluster exists. */
  rootPub: () => string | null;
  clock: Clock;
  logger: Logger;
  chaos: ManagerChaosOptions | undefined;
  /** Cuts Raft traffic to and from the managers listed (an empty list heals). */
  setPartition: (ids: string[]) => void;
  /** Every other manager in the Raft group. */
  peers: () => string[];
  /** The leader's heartbeat lag over its ready nodes, for stats; undefined elsewhere. */
  lag?: () => { p50: number; max: number } | undefined;
}

/** The answer goes out before a stop: the RPC reply is published, then the manager stops. */
const REPLY_GRACE_MS = 300;

export const NOT_ALLOWED = 'chaos not allowed: start the manager with --allow-chaos';

export class ManagerFaults {
  private readonly guard = new ChaosGuard();
  private partitionTimer: TimerHandle | undefined;

  constructor(private readonly d: ManagerFaultDeps) {}

  /** Checks the order and carries it out; the answer says what was done or why not. */
  async carryOut(signed: SignedChaos): Promise<ChaosResult> {
    const { clock } = this.d;
    const rootPub = this.d.rootPub();
    if (!rootPub) return { id: '', ok: false, error: 'the cluster is not initialised' };
    const check = verifyChaos(signed, rootPub, this.d.selfId, clock.now());
    if (!check.ok) return { id: idOf(signed), ok: false, error: check.reason };
    const order = check.order;
    if (order.fault !== 'stats' && this.d.chaos?.allow !== true)
      return { id: order.id, ok: false, error: NOT_ALLOWED };
    const refused = this.guard.admit(order.id, order.fault, clock.now());
    if (refused) return { id: order.id, ok: false, error: refused };
    if (order.fault === 'stats') return { id: order.id, ok: true, stats: await this.stats() };
    const problem = this.begin(order);
    if (problem) return { id: order.id, ok: false, error: problem };
    const until = clock.now() + order.durationMs;
    this.d.logger.warn('fault order carried out', { fault: order.fault, until, id: order.id });
    return { id: order.id, ok: true, until, stats: await this.stats() };
  }

  /** Heals what is in force (the manager is stopping). */
  close(): void {
    if (this.partitionTimer) this.healPartition();
  }

  private async stats() {
    const lag = this.d.lag?.();
    return {
      ...(await processStats(this.d.clock.now(), this.guard.list())),
      ...(lag ? { lag } : {}),
    };
  }

  /** Starts the fault; the reason when it cannot be carried out here. */
  private begin(order: ChaosOrder): string | null {
    const { clock } = this.d;
    const until = clock.now() + order.durationMs;
    switch (order.fault) {
      case 'kill-manager':
      case 'restart-manager': {
        const host = this.d.chaos?.host;
        if (!host) return 'this manager was not started in a way that can restart it';
        const hard = order.fault === 'kill-manager';
        this.guard.begin(order.fault, until);
        clock.setTimeout(() => host.restart(hard, order.durationMs), REPLY_GRACE_MS);
        return null;
      }
      case 'partition-manager': {
        const peers = this.d.peers();
        if (peers.length === 0) return 'this manager has no other manager to be cut off from';
        this.d.setPartition(peers);
        this.guard.begin(order.fault, until);
        this.partitionTimer = clock.setTimeout(() => this.healPartition(), order.durationMs);
        return null;
      }
      default:
        return `${order.fault} is an agent fault, not a manager's`;
    }
  }

  private healPartition(): void {
    if (this.partitionTimer) this.d.clock.clearTimeout(this.partitionTimer);
    this.partitionTimer = undefined;
    this.d.setPartition([]);
    this.guard.end('partition-manager');
    this.d.logger.info('fault undone: partition-manager');
  }
}

/** The order's id for an answer, even when the order fails its checks. */
export function idOf(signed: SignedChaos): string {
  try {
    const raw: unknown = JSON.parse(signed.order);
    if (raw && typeof raw === 'object' && 'id' in raw && typeof raw.id === 'string') return raw.id;
  } catch {
    // not JSON: no id to give back
  }
  return '';
}
