// Correctness checkers for the Raft simulation: linearizability of a key-value history and Raft's safety properties.
import type { Entry, NodeId } from '../../manager/raft/core/types.js';

// ---------------------------------------------------------------------------------------------
// Linearizability (Wing & Gong search with memoization, per key, over a register model).

export type OpStatus = 'ok' | 'unknown' | 'failed';

/** One completed (or outcome-unknown) operation on one key. Times are a global logical clock,
 * so every invocation and response is totally ordered. */
export interface HistoryOp {
  client: number;
  kind: 'put' | 'get';
  key: string;
  /** For put: the value written; for get: the value observed (null = never written). */
  value: string | null;
  call: number;
  /** Response time; ignored for 'unknown' ops, which may take effect any time after `call`. */
  ret: number;
  /** 'unknown' only for writes whose outcome was never learned (they may also never happen);
   * 'failed' ops provably never took effect and are left out of the search. */
  status: OpStatus;
}

export interface LinearizabilityResult {
  ok: boolean;
  /** Set when the search gave up (too many states); such a history is neither passed nor failed. */
  inconclusive?: boolean;
  key?: string;
  explanation?: string;
}

/** Checks every key's sub-history independently (a register per key composes: P-compositionality). */
export function checkLinearizable(history: HistoryOp[], budget = 200_000): LinearizabilityResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  let inconclusive = false;
  for (const [key, ops] of [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const r = checkRegister(ops, budget);
    if (r === 'inconclusive') {
      inconclusive = true;
      continue;
    }
    if (!r) return { ok: false, key, explanation: describe(key, ops) };
  }
  return inconclusive ? { ok: true, inconclusive: true } : { ok: true };
}

/** Depth-first search for a linearization; `true`, `false` or 'inconclusive' past `budget` states. */
export function checkRegister(history: HistoryOp[], budget: number): boolean | 'inconclusive' {
  // Unknown writes never return: they do not constrain what must precede other ops.
  const ops = history
    .filter((op) => op.status !== 'failed')
    .map((op) => ({ ...op, ret: op.status === 'unknown' ? Infinity : op.ret }))
    .sort((a, b) => a.call - b.call);
  const n = ops.length;
  const required = ops.filter((o) => o.status === 'ok').length;
  const done: boolean[] = new Array<boolean>(n).fill(false);
  const seen = new Set<string>();
  let states = 0;
  let gaveUp = false;
  let mask = 0n;

  const search = (value: string | null, doneRequired: number): boolean => {
    if (doneRequired === required) return true;
    const key = `${mask.toString(36)}|${value ?? '\u0000'}`;
    if (seen.has(key)) return false;
    seen.add(key);
    if (++states > budget) {
      gaveUp = true;
      return false;
    }
    // An op can go next only if it was invoked before every pending op's response.
    let minRet = Infinity;
    for (let i = 0; i < n; i++) {
      const op = ops[i];
      if (op !== undefined && !done[i] && op.ret < minRet) minRet = op.ret;
    }
    for (let i = 0; i < n; i++) {
      const op = ops[i];
      if (op === undefined || done[i]) continue;
      if (op.call > minRet) break; // sorted by call: nothing later can go first either
      let next: string | null;
      if (op.kind === 'put') next = op.value;
      else if (op.value === value) next = value;
      else continue;
      done[i] = true;
      mask |= 1n << BigInt(i);
      const found = search(next, doneRequired + (op.status === 'ok' ? 1 : 0));
      done[i] = false;
      mask &= ~(1n << BigInt(i));
      if (found) return true;
      if (gaveUp) return false;
    }
    return false;
  };

  const found = search(null, 0);
  if (found) return true;
  return gaveUp ? 'inconclusive' : false;
}

function describe(key: string, ops: HistoryOp[]): string {
  const lines = [...ops]
    .sort((a, b) => a.call - b.call)
    .slice(0, 60)
    .map(
      (o) =>
        `  c${o.client} ${o.kind} ${o.value ?? 'null'} [${o.call}, ${o.status === 'ok' ? o.ret : '?'}]` +
        (o.status === 'unknown' ? ' (outcome unknown)' : ''),
    );
  return `history of key ${key} is not linearizable:\n${lines.join('\n')}`;
}

// ---------------------------------------------------------------------------------------------
// Raft safety properties, checked continuously as the simulation observes each node.

/** Collects violations of Raft's safety properties (Raft paper, figure 3). */
export class SafetyChecker {
  readonly violations: string[] = [];
  /** Election safety: the leader seen for each term. */
  private leaders = new Map<number, NodeId>();
  /** Log matching: for each persisted (index, term), its data and the term of its predecessor. */
  private persisted = new Map<string, { type: string; data: string; prevTerm: number }>();
  /** State machine safety: the entry applied at each index by any node. */
  private applied = new Map<number, Entry>();
  /** Leader completeness: index -> term of every entry known to be committed. */
  private committedTerms = new Map<number, number>();
  private maxCommitted = 0;

  private fail(message: string): void {
    if (this.violations.length < 20) this.violations.push(message);
  }

  /** Election safety: at most one leader per term. */
  observeLeader(id: NodeId, term: number): void {
    const prev = this.leaders.get(term);
    if (prev === undefined) this.leaders.set(term, id);
    else if (prev !== id)
      this.fail(`election safety: ${prev} and ${id} both leader in term ${term}`);
  }

  /** Log matching, checked on every persist: each entry records its predecessor's term, so two
   * logs agreeing on (index, term) must agree on the data and, inductively, on the whole prefix.
   * `prevTerm` is the term of the entry just before `entries` in `id`'s log (undefined: unknown). */
  observeLog(id: NodeId, prevTerm: number | undefined, entries: readonly Entry[]): void {
    let prev = prevTerm;
    for (const e of entries) {
      if (prev !== undefined && e.term < prev) {
        this.fail(`log of ${id} has decreasing terms at ${e.index}: ${e.term} after ${prev}`);
      }
      const key = `${e.index}:${e.term}`;
      const seen = this.persisted.get(key);
      if (seen === undefined) {
        if (prev !== undefined)
          this.persisted.set(key, { type: e.type, data: e.data, prevTerm: prev });
      } else {
        if (seen.data !== e.data || seen.type !== e.type) {
          this.fail(`log matching: ${id} has a different entry at index ${e.index} term ${e.term}`);
        }
        if (prev !== undefined && seen.prevTerm !== prev) {
          this.fail(
            `log matching: ${id} agrees at ${e.index}/${e.term} but its entry ${e.index - 1} has term ` +
              `${prev}, another log has ${seen.prevTerm}`,
          );
        }
      }
      prev = e.term;
    }
  }

  /** State machine safety: no two nodes apply different entries at one index. */
  observeApply(id: NodeId, e: Entry): void {
    const prev = this.applied.get(e.index);
    if (prev === undefined) {
      this.applied.set(e.index, e);
      this.committedTerms.set(e.index, e.term);
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    } else if (prev.term !== e.term || prev.data !== e.data || prev.type !== e.type) {
      this.fail(
        `state machine safety: ${id} applied ${e.index}/${e.term} ${JSON.stringify(e.data)} but another ` +
          `node applied ${prev.index}/${prev.term} ${JSON.stringify(prev.data)}`,
      );
    }
  }

  /** A snapshot installed or taken at `index` must only cover committed entries. */
  observeSnapshot(id: NodeId, index: number, term: number): void {
    const t = this.committedTerms.get(index);
    if (t !== undefined && t !== term) {
      this.fail(
        `snapshot of ${id} at ${index} has term ${term} but the entry committed there has ${t}`,
      );
    }
  }

  /** Leader completeness: a new leader's log must hold every entry committed so far. */
  observeNewLeader(
    id: NodeId,
    term: number,
    snapshotIndex: number,
    termAt: (index: number) => number | undefined,
  ): void {
    for (let i = snapshotIndex + 1; i <= this.maxCommitted; i++) {
      const t = this.committedTerms.get(i);
      if (t === undefined) continue;
      const have = termAt(i);
      if (have !== t) {
        this.fail(
          `leader completeness: ${id} became leader of term ${term} without committed entry ${i}/${t} ` +
            `(has ${have === undefined ? 'nothing' : `term ${have}`})`,
        );
        return;
      }
    }
  }

  appliedEntry(index: number): Entry | undefined {
    return this.applied.get(index);
  }

  highestCommitted(): number {
    return this.maxCommitted;
  }
}
