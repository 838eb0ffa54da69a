// Many simulated boards in one process: started at a bounded rate, joined or reused, counted, and stopped together.
import path from 'node:path';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { boardAddress, boardName, type AddressPlan } from './addresses.js';
import { JoinError } from '../../shared/join-client.js';
import { SimBoard, SimBoardError } from './board.js';

export interface SimFleetOptions {
  count: number;
  prefix: string;
  addresses: AddressPlan;
  /** Each board's data dir is `<root>/<name>`. */
  root: string;
  managers: string[];
  token?: string;
  labels: Record<string, string>;
  insecure: boolean;
  allowChaos: boolean;
  /** Boards started per second at most (joins and restarts alike). */
  joinRate: number;
  /** Starts under way at most (default 64). */
  inFlight?: number;
  clock: Clock;
  logger: Logger;
}

export interface SimCounts {
  count: number;
  /** Boards that joined in this run. */
  joined: number;
  /** Boards that found the identity an earlier run kept. */
  reused: number;
  /** Boards whose Agent object runs. */
  started: number;
  connected: number;
  /** Boards that gave up joining or starting. */
  failed: number;
  lastError: string;
}

/** Starts under way at most: a slow manager holds back the ramp instead of piling up joins. */
const IN_FLIGHT = 64;
const ATTEMPTS = 6;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 8_000;

export class SimFleet {
  readonly boards: SimBoard[];
  private joined = 0;
  private reused = 0;
  private started = 0;
  private failed = 0;
  private lastError = '';
  private stopping = false;

  constructor(private readonly opts: SimFleetOptions) {
    this.boards = Array.from({ length: opts.count }, (_, i) => {
      const name = boardName(opts.prefix, i + 1, opts.count);
      return new SimBoard({
        name,
        dataDir: path.join(opts.root, name),
        address: boardAddress(opts.addresses, i + 1),
        managers: opts.managers,
        ...(opts.token !== undefined ? { token: opts.token } : {}),
        labels: opts.labels,
        insecure: opts.insecure,
        allowChaos: opts.allowChaos,
        clock: opts.clock,
        logger: opts.logger,
      });
    });
  }

  /** How many boards have not joined in an earlier run (and so need a token). */
  async unjoined(): Promise<number> {
    const known = await Promise.all(this.boards.map((b) => b.hasIdentity()));
    return known.filter((k) => !k).length;
  }

  counts(): SimCounts {
    return {
      count: this.opts.count,
      joined: this.joined,
      reused: this.reused,
      started: this.started,
      connected: this.boards.filter((b) => b.connected).length,
      failed: this.failed,
      lastError: this.lastError,
    };
  }

  /**
   * Starts every board, `joinRate` a second. The first board goes alone: when it cannot join
   * (a wrong token, no manager) the run stops there with the reason instead of failing N times.
   */
  async ramp(): Promise<void> {
    const [first, ...rest] = this.boards;
    if (!first) return;
    await this.bringUp(first);
    if (this.failed > 0)
      throw new SimBoardError(`${first.name} could not start: ${this.lastError}`);
    const gapMs = 1000 / this.opts.joinRate;
    const inFlight = new Set<Promise<void>>();
    for (const board of rest) {
      if (this.stopping) break;
      while (inFlight.size >= (this.opts.inFlight ?? IN_FLIGHT)) await Promise.race(inFlight);
      const p: Promise<void> = this.bringUp(board).finally(() => inFlight.delete(p));
      inFlight.add(p);
      await this.opts.clock.sleep(gapMs);
    }
    await Promise.all(inFlight);
  }

  /** Stops every board (the ramp first, if it still runs), removing all their workloads. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.boards.map((b) => b.stop()));
  }

  private async bringUp(board: SimBoard): Promise<void> {
    let identified = false;
    for (let attempt = 1; attempt <= ATTEMPTS && !this.stopping; attempt++) {
      try {
        if (!identified) {
          const how = await board.identify();
          identified = true;
          if (how === 'joined') this.joined++;
          else this.reused++;
        }
        await board.start();
        this.started++;
        return;
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
        const fields = { board: board.name, attempt, error: this.lastError };
        this.opts.logger.warn('board could not start', fields);
        if (isPermanent(e) || attempt === ATTEMPTS) break;
        await this.opts.clock.sleep(Math.min(FIRST_RETRY_MS * 2 ** (attempt - 1), MAX_RETRY_MS));
      }
    }
    if (!this.stopping) this.failed++;
  }
}

/**
 * What does not get better by waiting: a damaged identity, a missing token, and a join the
 * manager refused (a wrong or rotated token, another cluster's manager). "could not join" is
 * the join client's word for managers that did not answer, which may yet.
 */
function isPermanent(e: unknown): boolean {
  if (e instanceof SimBoardError) return true;
  return e instanceof JoinError && !e.message.startsWith('could not join');
}
