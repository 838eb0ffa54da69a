// Raft hosts of one process on real SQLite files and one FakeClock, linked by an in-memory network.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareRaftLog, type LogStart } from '../../manager/raft/bootstrap.js';
import type { Message } from '../../manager/raft/core/index.js';
import { encodeMemberContext } from '../../manager/raft/entries.js';
import { RaftHost, type PeerTransport } from '../../manager/raft/host.js';
import { RaftStorage } from '../../manager/raft/storage.js';
import { Store } from '../../manager/store/store.js';
import { errorMessage } from '../../shared/errors.js';
import { FakeClock } from '../../shared/clock.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { NodeRecord, ServiceRecord } from '../../shared/spec.js';
import { Prng } from '../sim/prng.js';

export const TIMING = { tickMs: 10, electionTicks: 10, heartbeatTicks: 1 };
export const IDS = ['a', 'b', 'c'] as const;
export const addressOf = (id: string): string => `${id}.managers.test:4883`;
/** A run that has not ended after this much of its clock's time is stuck: the driver stops. */
const MAX_RUN_MS = 10 * 60_000;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Election timeouts from a seed per manager (and per restart), so every run draws the same. */
function seeded(id: string, restart: number): () => number {
  const prng = new Prng(id.charCodeAt(0) * 31 + restart);
  return () => prng.next();
}

// ---- an in-memory network between the hosts of one process

/**
 * Delivers each host's messages to the addressed host on a later turn of the event loop, as a
 * wire would (serialized, so no object is shared). A host that is cut off neither sends nor
 * receives; the cut is checked again at delivery, so nothing in flight crosses it either.
 */
export class Hub {
  private readonly hosts = new Map<string, RaftHost>();
  private readonly cut = new Set<string>();
  /** Messages handed to the hub, by type: to show what travelled. */
  readonly sent = new Map<string, number>();
  /** Sends handed to the hub so far, and deliveries not yet made. */
  private handed = 0;
  private inFlight = 0;

  attach(id: string, host: RaftHost): void {
    this.hosts.set(id, host);
  }

  detach(id: string): void {
    this.hosts.delete(id);
  }

  isolate(id: string): void {
    this.cut.add(id);
  }

  heal(id: string): void {
    this.cut.delete(id);
  }

  linked(from: string, to: string): boolean {
    return (
      from !== to &&
      !this.cut.has(from) &&
      !this.cut.has(to) &&
      this.hosts.has(from) &&
      this.hosts.has(to)
    );
  }

  transportFor(self: string): PeerTransport {
    return {
      send: (msgs) => this.send(self, msgs),
      setPeers: () => undefined,
      connected: (id) => this.linked(self, id),
    };
  }

  /**
   * Resolves once nothing is in flight and the hosts sent nothing new for a few turns of the
   * event loop: every message the last tick set off has landed, and every answer to it too.
   */
  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 3;) {
      const before = this.handed;
      await nextTurn();
      quiet = this.inFlight === 0 && this.handed === before ? quiet + 1 : 0;
    }
  }

  private send(from: string, msgs: Message[]): void {
    this.handed++;
    const byTarget = new Map<string, Message[]>();
    for (const m of msgs) {
      this.sent.set(m.type, (this.sent.get(m.type) ?? 0) + 1);
      const batch = byTarget.get(m.to) ?? [];
      batch.push(JSON.parse(JSON.stringify(m)) as Message);
      byTarget.set(m.to, batch);
    }
    for (const [to, batch] of byTarget) {
      this.inFlight++;
      setImmediate(() => {
        this.inFlight--;
        const ok = this.linked(from, to);
        const target = this.hosts.get(to);
        if (ok && target) target.receive(batch);
        // What the real transport does once a snapshot was handed over (or could not be).
        for (const m of batch) if (m.type === 'snap') this.hosts.get(from)?.snapshotSent(to, ok);
      });
    }
  }
}

// ---- managers on temp files

export interface Member {
  id: string;
  dir: string;
  store: Store;
  storage: RaftStorage;
  host: RaftHost;
  start: LogStart;
  running: boolean;
}

export interface HostTuning {
  snapshotEvery?: number;
  retainEntries?: number;
  commitTimeoutMs?: number;
}

/**
 * Managers on one FakeClock. While the cluster is open a driver moves that clock on one tick at a
 * time, each once the messages the previous tick set off have all landed: a run depends on the
 * order of events only, never on how fast the machine is.
 */
export class Cluster {
  readonly hub = new Hub();
  readonly clock = new FakeClock();
  readonly members = new Map<string, Member>();
  private readonly dirs: string[] = [];
  private readonly opens = new Map<string, number>();
  private driving = true;
  private readonly driver: Promise<void>;

  constructor(private readonly tuning: HostTuning = {}) {
    this.driver = this.drive();
  }

  /** Calls fn on every turn of the event loop until it returns a truthy value; fails after timeoutMs of the cluster's time. */
  async waitFor<T>(
    fn: () => T,
    opts: { what: string; timeoutMs?: number },
  ): Promise<NonNullable<T>> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = this.clock.now() + timeoutMs;
    let lastError: unknown = undefined;
    for (;;) {
      try {
        const value = fn();
        if (value) return value;
      } catch (e) {
        lastError = e;
      }
      if (this.clock.now() >= deadline) break;
      await nextTurn();
    }
    const cause = lastError === undefined ? '' : ` (last error: ${errorMessage(lastError)})`;
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${cause}`);
  }

  /** How many times this manager was opened before. */
  private opened(id: string): number {
    const n = this.opens.get(id) ?? 0;
    this.opens.set(id, n + 1);
    return n;
  }

  private async drive(): Promise<void> {
    const limit = this.clock.now() + MAX_RUN_MS;
    while (this.driving && this.clock.now() < limit) {
      await this.hub.settle();
      if (this.driving) this.clock.advance(TIMING.tickMs);
    }
  }

  /** Opens (or reopens) a manager's files and starts its host, as Manager.start does. */
  open(id: string, opts: { dir?: string; joining?: boolean; logger?: Logger } = {}): Member {
    const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), `fleet-raft-host-${id}-`));
    if (!opts.dir) this.dirs.push(dir);
    const store = new Store(path.join(dir, 'state.db'));
    const storage = new RaftStorage(path.join(dir, 'raft.db'));
    const start = prepareRaftLog({
      storage,
      store,
      id,
      address: addressOf(id),
      logger: silentLogger,
      joining: opts.joining === true,
    });
    const host = new RaftHost({
      id,
      store,
      storage,
      transport: this.hub.transportFor(id),
      logger: opts.logger ?? silentLogger,
      timing: TIMING,
      clock: this.clock,
      random: seeded(id, this.opened(id)),
      commitTimeoutMs: this.tuning.commitTimeoutMs ?? 5_000,
      ...(this.tuning.snapshotEvery !== undefined
        ? { snapshotEvery: this.tuning.snapshotEvery }
        : {}),
      ...(this.tuning.retainEntries !== undefined
        ? { retainEntries: this.tuning.retainEntries }
        : {}),
      ...(opts.joining ? { initialPeers: [{ id: 'a', address: addressOf('a') }] } : {}),
    });
    this.hub.attach(id, host);
    host.start();
    const m: Member = { id, dir, store, storage, host, start, running: true };
    this.members.set(id, m);
    return m;
  }

  /** Stops a manager and closes its files, as Manager.stop does. */
  stop(id: string): Member {
    const m = this.member(id);
    if (!m.running) return m;
    m.running = false;
    this.hub.detach(id);
    m.host.stop();
    m.host.close();
    m.store.close();
    return m;
  }

  member(id: string): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  running(): Member[] {
    return [...this.members.values()].filter((m) => m.running);
  }

  /** The one running host that leads with everything before its term applied. */
  async leader(what = 'a leader', among = this.running()): Promise<Member> {
    return this.waitFor(
      () => {
        const leaders = among.filter((m) => m.host.isLeading);
        return leaders.length === 1 ? leaders[0] : undefined;
      },
      { what, timeoutMs: 5_000 },
    );
  }

  /** Every running store at the same applied index with the same records. */
  async converged(what: string, among = this.running()): Promise<void> {
    await this.waitFor(
      () => {
        const [first, ...rest] = among.map((m) => stateOf(m.store));
        return rest.every((s) => sameState(s, first));
      },
      { what, timeoutMs: 5_000 },
    );
    const [first, ...rest] = among.map((m) => stateOf(m.store));
    for (const s of rest) assert.deepEqual(s, first);
  }

  async close(): Promise<void> {
    this.driving = false;
    await this.driver;
    for (const id of this.members.keys()) this.stop(id);
    // Let deliveries already queued on the event loop drain into the stopped hosts.
    await new Promise((resolve) => setImmediate(resolve));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** A's cluster as real managers build it: A bootstraps, B and C join as learners, then vote. */
export async function threeManagers(tuning: HostTuning = {}, loggers: Record<string, Logger> = {}) {
  const c = new Cluster(tuning);
  try {
    const withLogger = (id: string): { logger?: Logger } => {
      const logger = loggers[id];
      return logger ? { logger } : {};
    };
    const a = c.open('a', withLogger('a'));
    assert.equal(a.start, 'new-cluster');
    await c.waitFor(() => a.host.isLeading, { what: 'a to lead alone', timeoutMs: 5_000 });
    for (const id of ['b', 'c']) {
      const m = c.open(id, { joining: true, ...withLogger(id) });
      assert.equal(m.start, 'joining');
      const context = encodeMemberContext(addressOf(id));
      await a.host.changeMembership({ op: 'add-learner', id, context });
      await c.waitFor(() => m.store.appliedIndex >= a.store.appliedIndex, {
        what: `learner ${id} to catch up`,
        timeoutMs: 5_000,
      });
      await a.host.changeMembership({ op: 'add-voter', id });
    }
    assert.deepEqual(a.host.status().conf, { voters: ['a', 'b', 'c'], learners: [] });
    await c.converged('the three stores after the membership changes');
    for (const m of c.running()) {
      assert.deepEqual(
        m.store.members(),
        IDS.map((id) => ({ id, address: addressOf(id) })),
        `members as ${m.id} sees them`,
      );
    }
    return c;
  } catch (e) {
    await c.close();
    throw e;
  }
}

export async function withCluster(
  tuning: HostTuning,
  body: (c: Cluster) => Promise<void>,
  loggers: Record<string, Logger> = {},
): Promise<void> {
  const c = await threeManagers(tuning, loggers);
  try {
    await body(c);
  } finally {
    await c.close();
  }
}

// ---- records

export interface State {
  index: number;
  members: unknown;
  nodes: NodeRecord[];
  services: ServiceRecord[];
}

export const byId = <T extends { id: string }>(xs: Iterable<T>): T[] =>
  [...xs].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));

export function stateOf(s: Store): State {
  return {
    index: s.appliedIndex,
    members: s.members(),
    nodes: byId(s.nodes()),
    services: byId(s.services()),
  };
}

function sameState(x: State, y: State | undefined): boolean {
  return y !== undefined && JSON.stringify(x) === JSON.stringify(y);
}

export async function loneManager(body: (a: Member, c: Cluster) => Promise<void>): Promise<void> {
  const c = new Cluster({ commitTimeoutMs: 4_000 });
  try {
    const a = c.open('a');
    await c.waitFor(() => a.host.isLeading, { what: 'a to lead alone', timeoutMs: 5_000 });
    await body(a, c);
  } finally {
    await c.close();
  }
}
