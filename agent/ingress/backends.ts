// The backend set of one published port: selection (local first, least-conn or round robin), draining and per-backend counters.
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';

export interface Backend {
  id: string;
  host: string;
  port: number;
  /** The task runs on this node: preferred while any local task is live. */
  local: boolean;
}

/** Something forwarded to a backend (a TCP connection, a UDP flow) that draining may end. */
export interface Closable {
  close(): void;
}

/** After a failed connect a backend is tried last for this long, so clients stop paying the delay. */
const FAILED_COOLDOWN_MS = 2_000;

export class BackendState {
  active = 0;
  total = 0;
  errors = 0;
  draining = false;
  failedUntil = 0;
  drainTimer: TimerHandle | undefined;
  readonly open = new Set<Closable>();
  constructor(
    readonly key: string,
    readonly backend: Backend,
  ) {}
}

export interface PoolOptions {
  balance: 'round-robin' | 'least-conn';
  drainMs: number;
  /** Called when a draining backend has no forwarding left and is forgotten. */
  onRetired?: (b: BackendState) => void;
  /** Time for the failed-connect cooldown and the drain deadline. */
  clock?: Clock;
}

const keyOf = (b: Backend): string => `${b.id}|${b.host}:${b.port}`;

export class BackendPool {
  private readonly all = new Map<string, BackendState>();
  /** Live (not draining) backends to choose from first: the local ones when any, else all. */
  private candidates: BackendState[] = [];
  /** Live backends of other nodes while local ones exist: taken when no local one can serve. */
  private others: BackendState[] = [];
  private cursor = 0;
  private drainMs: number;
  private readonly clock: Clock;

  constructor(private readonly opts: PoolOptions) {
    this.drainMs = opts.drainMs;
    this.clock = opts.clock ?? systemClock;
  }

  /** Drains started from now on last this long. */
  setDrainMs(ms: number): void {
    this.drainMs = ms;
  }

  /** Nothing live and nothing draining. */
  get empty(): boolean {
    return this.all.size === 0;
  }

  /** Replaces the live set; backends no longer in it drain. */
  set(backends: readonly Backend[]): void {
    const wanted = new Set<string>();
    for (const b of backends) {
      const key = keyOf(b);
      wanted.add(key);
      const cur = this.all.get(key);
      if (!cur) this.all.set(key, new BackendState(key, { ...b }));
      else if (cur.draining) this.undrain(cur);
      if (cur) cur.backend.local = b.local;
    }
    for (const s of this.all.values()) if (!wanted.has(s.key) && !s.draining) this.drain(s);
    const live = [...this.all.values()].filter((s) => !s.draining);
    const local = live.filter((s) => s.backend.local);
    this.candidates = local.length > 0 ? local : live;
    this.others = local.length > 0 ? live.filter((s) => !s.backend.local) : [];
  }

  /**
   * The backend for a new connection, skipping those already tried for it; one whose last connect
   * failed recently only when nothing else is left. Undefined when none remains.
   */
  pick(tried?: readonly BackendState[]): BackendState | undefined {
    const now = this.clock.now();
    const cursor = this.cursor++;
    // Local tasks first; when none of them can take it (tried, or failing), other nodes' tasks.
    const local = this.choose(this.candidates, cursor, now, tried);
    if (local.best) return local.best;
    const remote = this.choose(this.others, cursor, now, tried);
    if (remote.best) return remote.best;
    const a = local.fallback;
    const b = remote.fallback;
    return a && b ? (b.active < a.active ? b : a) : (a ?? b);
  }

  /** The best backend of a list not in cooldown, and the least loaded one in cooldown. */
  private choose(
    list: readonly BackendState[],
    cursor: number,
    now: number,
    tried: readonly BackendState[] | undefined,
  ): { best?: BackendState; fallback?: BackendState } {
    const n = list.length;
    let best: BackendState | undefined;
    let fallback: BackendState | undefined;
    const start = n === 0 ? 0 : cursor % n;
    for (let i = 0; i < n; i++) {
      const s = list[(start + i) % n];
      if (!s || (tried && tried.includes(s))) continue;
      if (s.failedUntil > now) {
        if (!fallback || s.active < fallback.active) fallback = s;
        continue;
      }
      if (this.opts.balance === 'round-robin') return { best: s };
      // Ties go to the first one after the rotating cursor, so equal loads still spread.
      if (!best || s.active < best.active) best = s;
    }
    return { ...(best ? { best } : {}), ...(fallback ? { fallback } : {}) };
  }

  /** Records a forwarding as started on the backend. */
  acquire(s: BackendState, c: Closable): void {
    s.active++;
    s.total++;
    s.open.add(c);
  }

  /** Records a forwarding as ended; a draining backend with nothing left is forgotten. */
  release(s: BackendState, c: Closable): void {
    if (!s.open.delete(c)) return;
    s.active--;
    if (s.draining && s.active === 0) this.retire(s);
  }

  /**
   * Records a failed connect or a forwarding error on the backend. True when a connect failure
   * starts a new cooldown, which callers log: at most one line per backend per cooldown.
   */
  failed(s: BackendState, connectFailed: boolean): boolean {
    s.errors++;
    if (!connectFailed) return false;
    const now = this.clock.now();
    const fresh = s.failedUntil <= now;
    s.failedUntil = now + FAILED_COOLDOWN_MS;
    return fresh;
  }

  states(): IterableIterator<BackendState> {
    return this.all.values();
  }

  /** Forgets everything and ends what is still open (the forwarder is closing). */
  clear(): void {
    for (const s of this.all.values()) {
      this.clearDrainTimer(s);
      for (const c of [...s.open]) c.close();
    }
    this.all.clear();
    this.candidates = [];
    this.others = [];
  }

  private drain(s: BackendState): void {
    s.draining = true;
    if (s.active === 0) return this.retire(s);
    // Open forwardings finish on their own; past drainMs they are cut.
    s.drainTimer = this.clock.setTimeout(() => {
      for (const c of [...s.open]) c.close();
    }, this.drainMs);
  }

  private undrain(s: BackendState): void {
    s.draining = false;
    this.clearDrainTimer(s);
  }

  private clearDrainTimer(s: BackendState): void {
    if (s.drainTimer) this.clock.clearTimeout(s.drainTimer);
    s.drainTimer = undefined;
  }

  private retire(s: BackendState): void {
    this.clearDrainTimer(s);
    this.all.delete(s.key);
    this.opts.onRetired?.(s);
  }
}
