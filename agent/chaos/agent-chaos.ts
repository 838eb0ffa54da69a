// An agent's side of fault orders: checks each order, answers it, carries it out and undoes it when it ends.
import {
  AGENT_FAULTS,
  chaosTopics,
  signedChaosSchema,
  verifyChaos,
  type ChaosOrder,
  type AgentFault,
  type ChaosResult,
  type Fault,
} from '../../shared/chaos.js';
import { ChaosGuard } from '../../shared/chaos-guard.js';
import { processStats } from '../../shared/chaos-stats.js';
import { systemClock, type TimerHandle } from '../../shared/clock.js';
import { decode } from '../../shared/protocol.js';
import type { Clock } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import type { Runtime } from '../runtime/types.js';
import type { ChaosHost } from './host.js';
import { DEFAULT_LEAVE_BYTES, fillFile, fillPlan, removeFill, writeFill } from './fill-disk.js';
import { LinkFaults, type MessageFault } from './link-faults.js';
import { SkewableClock } from './skew-clock.js';

export const AGENT_NOT_ALLOWED = 'chaos not allowed: start the agent with --allow-chaos';
const DEFAULT_OFFSET_MS = 120_000;
const DEFAULT_RATE = 0.3;
const DEFAULT_DELAY_MS = 2_000;
/** The answer is on the wire before a fault that drops the link takes hold. */
const ANSWER_GRACE_MS = 200;

/** What the agent lets its chaos part use of the connection. */
export interface ChaosLink {
  publish(topic: string, payload: Buffer, qos: 0 | 1): boolean;
  /** Drops the live connection without a goodbye. */
  dropLink(): void;
}

export interface AgentChaosDeps {
  /** Carry out faults (`--allow-chaos`); without it every order but stats is refused. */
  allow: boolean;
  host: ChaosHost;
  identity: Pick<Identity, 'id' | 'rootPub'>;
  dataDir: string;
  logger: Logger;
  /** The real clock beneath the skewable one the agent is given. */
  clock?: Clock;
  random?: () => number;
}

type Carried = { undo: () => void | Promise<void> } | string;

/**
 * Made by whatever starts the agent (agent/chaos/start-host.ts) and handed to each Agent it
 * starts: seen orders and faults in force outlive a restart of the agent, and are undone when
 * the host stops for good (close).
 */
export class AgentChaos {
  /** The agent's clock: every part of the agent reads wall time through it. */
  readonly clock: SkewableClock;
  /** Consulted by the connection on each publish and each attempt to connect. */
  readonly link: LinkFaults;
  private readonly guard = new ChaosGuard();
  private readonly ending = new Map<Fault, { timer: TimerHandle; undo: () => unknown }>();
  private closed = false;
  private conn: (() => ChaosLink) | undefined;
  private runtime: Pick<Runtime, 'list'> | undefined;

  constructor(private readonly d: AgentChaosDeps) {
    this.clock = new SkewableClock(d.clock ?? systemClock);
    this.link = new LinkFaults(this.clock, d.random ?? Math.random);
  }

  /** Drops the running agent's connection without a goodbye (kill-agent). */
  dropLink(): void {
    this.conn?.().dropLink();
  }

  /** The agent now running: where answers go and whose tasks stats list. */
  attach(conn: () => ChaosLink, runtime: Pick<Runtime, 'list'>): void {
    this.conn = conn;
    this.runtime = runtime;
  }

  onOrder(payload: Buffer): void {
    this.handle(payload).catch((e: unknown) => {
      this.d.logger.error('fault order failed', { error: String(e) });
    });
  }

  /** Undoes every fault in force (the agent is stopping). */
  async close(): Promise<void> {
    this.closed = true;
    const undos = [...this.ending.values()];
    this.ending.clear();
    for (const e of undos) {
      this.clock.clearTimeout(e.timer);
      await e.undo();
    }
  }

  private async handle(payload: Buffer): Promise<void> {
    const d = decode(signedChaosSchema, payload);
    if (!d.ok) return this.d.logger.warn('dropped fault order', { reason: d.reason });
    const { identity } = this.d;
    // Freshness is judged by the real clock: a skewed agent still takes the next order.
    const check = verifyChaos(d.value, identity.rootPub, identity.id, this.clock.base.now());
    if (!check.ok) {
      this.d.logger.warn('refused fault order', { reason: check.reason });
      return this.answer({ id: orderId(d.value.order), ok: false, error: check.reason });
    }
    const order = check.order;
    const refused = this.refusal(order);
    if (refused) return this.answer({ id: order.id, ok: false, error: refused });
    if (order.fault === 'stats')
      return this.answer({ id: order.id, ok: true, stats: await this.stats() });
    const until = this.clock.now() + order.durationMs;
    const carried = await this.carryOut(order);
    if (typeof carried === 'string')
      return this.answer({ id: order.id, ok: false, error: carried });
    this.d.logger.warn('fault order carried out', { fault: order.fault, until, id: order.id });
    this.guard.begin(order.fault, until);
    const end = (): void => void this.end(order.fault);
    this.ending.set(order.fault, {
      timer: this.clock.setTimeout(end, order.durationMs),
      undo: carried.undo,
    });
    // The answer goes out before a fault that cuts the link or restarts the agent takes hold.
    this.answer({ id: order.id, ok: true, until, stats: await this.stats() });
    this.clock.setTimeout(() => this.afterAnswer(order), ANSWER_GRACE_MS);
  }

  /** Why the order is not carried out here, or null. */
  private refusal(order: ChaosOrder): string | null {
    if (order.fault !== 'stats' && !this.d.allow) return AGENT_NOT_ALLOWED;
    const fault = order.fault;
    if (!isAgentFault(fault)) return `${fault} is carried out by a manager, not an agent`;
    if (this.closed) return 'the agent is stopping';
    const refused = fault === 'stats' ? null : (this.d.host.refuses?.(fault) ?? null);
    return refused ?? this.guard.admit(order.id, order.fault, this.clock.base.now());
  }

  /** Starts the fault (all but those that wait for the answer); how to undo it, or why not. */
  private async carryOut(order: ChaosOrder): Promise<Carried> {
    const p = order.params;
    switch (order.fault) {
      case 'kill-agent':
      case 'restart-agent':
      case 'restart-engine':
        // Carried out once the answer is out (afterAnswer); the host brings it back.
        return { undo: () => undefined };
      case 'partition':
        // The link is cut once the answer is out (afterAnswer).
        return { undo: () => this.link.setCut(false) };
      case 'fill-disk':
        return this.fillDisk(num(p.leaveBytes, DEFAULT_LEAVE_BYTES));
      case 'skew-clock':
        this.clock.skew(num(p.offsetMs, DEFAULT_OFFSET_MS));
        return { undo: () => this.clock.skew(0) };
      case 'drop':
      case 'delay':
      case 'duplicate':
        return this.messageFault(order.fault, p);
      default:
        return `${order.fault} is not an agent fault`;
    }
  }

  private afterAnswer(order: ChaosOrder): void {
    const { host, logger } = this.d;
    if (this.closed) return;
    switch (order.fault) {
      case 'kill-agent':
      case 'restart-agent':
        host.restartAgent(order.fault === 'kill-agent', order.durationMs);
        return;
      case 'restart-engine':
        host.restartEngine(order.durationMs).catch((e: unknown) => {
          logger.error('the engine restart failed', { error: String(e) });
        });
        return;
      case 'partition':
        this.link.setCut(true);
        this.conn?.().dropLink();
        return;
      default:
        return;
    }
  }

  private async fillDisk(leaveBytes: number): Promise<Carried> {
    const { dataDir, logger } = this.d;
    const plan = await fillPlan(dataDir, leaveBytes);
    if (typeof plan === 'string') return plan;
    const file = fillFile(dataDir);
    // The end of the fault stops the writing too: a large disk is not filled past its time.
    const stop = { now: false };
    const written = writeFill(file, plan, () => stop.now).catch((e: unknown) => {
      logger.error('could not fill the disk', { error: String(e) });
    });
    return {
      undo: async () => {
        stop.now = true;
        await written;
        await removeFill(file);
      },
    };
  }

  private messageFault(fault: MessageFault, p: ChaosOrder['params']): Carried {
    const rate = num(p.rate, DEFAULT_RATE);
    if (rate < 0 || rate > 1) return `rate must be between 0 and 1, got ${rate}`;
    this.link.set(fault, { rate, delayMs: num(p.delayMs, DEFAULT_DELAY_MS) });
    return { undo: () => this.link.set(fault, null) };
  }

  private async end(fault: Fault): Promise<void> {
    const e = this.ending.get(fault);
    this.ending.delete(fault);
    this.guard.end(fault);
    await e?.undo();
    this.d.logger.info('fault undone', { fault });
  }

  private async stats(): Promise<NonNullable<ChaosResult['stats']>> {
    const list = this.runtime?.list(this.d.identity.id) ?? Promise.resolve([]);
    const running = await list.then(
      (ws) => ws.map((w) => w.taskId),
      () => [],
    );
    return processStats(this.clock.now(), this.guard.list(), running);
  }

  private answer(r: ChaosResult): void {
    const topic = chaosTopics.result(this.d.identity.id);
    if (!this.conn?.().publish(topic, Buffer.from(JSON.stringify(r)), 1))
      this.d.logger.warn('could not answer a fault order: not connected', { id: r.id });
  }
}

/** A number parameter, or the default when absent; a string that is a number counts. */
function num(v: string | number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

const isAgentFault = (f: Fault): f is AgentFault => (AGENT_FAULTS as readonly Fault[]).includes(f);

function orderId(text: string): string {
  try {
    const raw: unknown = JSON.parse(text);
    if (raw && typeof raw === 'object' && 'id' in raw && typeof raw.id === 'string') return raw.id;
  } catch {
    // not JSON: no id to give back
  }
  return '';
}
