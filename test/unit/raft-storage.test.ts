// The Raft log on SQLite: round trips, tail replacement, snapshots, compaction, corruption, and SIGKILL mid-write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { RaftStorage, type RaftBoot } from '../../manager/raft/storage.js';
import type { Entry, HardState, Snapshot } from '../../manager/raft/core/types.js';

const SELF = fileURLToPath(import.meta.url);

const entry = (index: number, term: number, data = `d${index}`): Entry => ({
  index,
  term,
  type: 'normal',
  data,
});
const run = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const snap = (index: number, term: number, data = `state@${index}`): Snapshot => ({
  meta: { index, term, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } },
  data,
});

// ---- a deterministic sequence of storage calls, replayed in memory to know what must be on disk

type Op =
  | { kind: 'save'; hardState: HardState; snapshot?: Snapshot; entries: Entry[] }
  | { kind: 'compact'; snapshot: Snapshot; firstKept: number };

const lastIndex = (m: RaftBoot): number =>
  Math.max(m.snapshot?.meta.index ?? 0, m.entries[m.entries.length - 1]?.index ?? 0);

function nextOp(n: number, m: RaftBoot): Op {
  const last = lastIndex(m);
  const term = 1 + Math.floor(n / 40);
  const hard = (newLast: number, snapIndex = m.snapshot?.meta.index ?? 0): HardState => ({
    term,
    vote: 'a',
    commit: Math.max(snapIndex, newLast - 5, m.hardState.commit),
  });
  if (n % 53 === 0) {
    const s = snap(last + 7, term, `state-${n}-`.repeat(200));
    return { kind: 'save', hardState: hard(s.meta.index, s.meta.index), snapshot: s, entries: [] };
  }
  const first = m.entries[0];
  const at = first ? m.entries[m.hardState.commit - first.index] : undefined;
  if (n % 29 === 0 && first && at && at.index > first.index) {
    return {
      kind: 'compact',
      snapshot: snap(at.index, at.term),
      firstKept: Math.max(first.index, at.index - 3),
    };
  }
  const pad = 'x'.repeat((n * 37) % 1500);
  const data = (i: number): string => `e${n}-${i}-${pad}`;
  const start = n % 11 === 0 && m.entries.length > 6 ? last - 2 : last + 1;
  const entries = Array.from({ length: 1 + (n % 4) }, (_, i) => entry(start + i, term, data(i)));
  return { kind: 'save', hardState: hard(start + entries.length - 1), entries };
}

function applyOp(m: RaftBoot, op: Op): RaftBoot {
  if (op.kind === 'compact') {
    return {
      ...m,
      snapshot: op.snapshot,
      entries: m.entries.filter((e) => e.index >= op.firstKept),
    };
  }
  let entries = op.snapshot ? [] : m.entries;
  const first = op.entries[0];
  if (first) entries = [...entries.filter((e) => e.index < first.index), ...op.entries];
  const snapshot = op.snapshot ?? m.snapshot;
  return snapshot
    ? { hardState: op.hardState, snapshot, entries }
    : { hardState: op.hardState, entries };
}

function perform(s: RaftStorage, op: Op): void {
  if (op.kind === 'compact') s.compact(op.snapshot, op.firstKept);
  else s.save(op);
}

const empty = (): RaftBoot => ({ hardState: { term: 0, vote: null, commit: 0 }, entries: [] });

/** The model after `steps` operations. */
function modelAfter(steps: number): RaftBoot {
  let m = empty();
  for (let n = 1; n <= steps; n++) m = applyOp(m, nextOp(n, m));
  return m;
}

/** Child mode: performs operations until killed, printing each step number once it returned. */
function child(file: string): void {
  const s = new RaftStorage(file);
  let m = empty();
  const deadline = Date.now() + 30_000; // bounded even if nobody kills it
  for (let n = 1; Date.now() < deadline; n++) {
    const op = nextOp(n, m);
    perform(s, op);
    m = applyOp(m, op);
    process.stdout.write(`${n}\n`);
  }
  s.close();
}

function tempFile(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-raft-storage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'raft.db');
}

const childIndex = process.argv.indexOf('--raft-storage-child');
if (childIndex >= 0) {
  child(process.argv[childIndex + 1] ?? '');
} else {
  test('a new log is empty, and what was saved comes back after reopening', (t) => {
    const file = tempFile(t);
    let s = new RaftStorage(file);
    assert.deepEqual(s.load(), empty());
    assert.equal(s.sizeBytes, 0);
    const hardState = { term: 3, vote: 'b', commit: 2 };
    const entries: Entry[] = [entry(1, 1), { index: 2, term: 3, type: 'conf', data: '{"op":"x"}' }];
    s.save({ hardState, entries });
    assert.deepEqual(s.load(), { hardState, entries });
    const size = s.sizeBytes;
    assert.ok(size > 0);
    s.close();
    s = new RaftStorage(file);
    assert.deepEqual(s.load(), { hardState, entries });
    assert.equal(s.sizeBytes, size);
    s.save({ entries: [entry(3, 3)] }); // no hard state: the stored one stays
    assert.deepEqual(s.load().hardState, hardState);
    s.close();
  });

  test('entries at or after the first saved index replace the stable tail', (t) => {
    const s = new RaftStorage(tempFile(t));
    s.save({ hardState: { term: 1, vote: 'a', commit: 1 }, entries: run(1, 5, 1) });
    s.save({ hardState: { term: 2, vote: null, commit: 2 }, entries: run(3, 4, 2) });
    assert.deepEqual(s.load().entries, [...run(1, 2, 1), ...run(3, 4, 2)]);
    assert.deepEqual(s.load().hardState, { term: 2, vote: null, commit: 2 });
    s.close();
  });

  test('a saved snapshot replaces the whole log; entries after it follow', (t) => {
    const s = new RaftStorage(tempFile(t));
    s.save({ hardState: { term: 1, vote: 'a', commit: 3 }, entries: run(1, 8, 1) });
    const snapshot = snap(20, 4);
    s.save({ hardState: { term: 4, vote: null, commit: 21 }, snapshot, entries: run(21, 22, 4) });
    assert.deepEqual(s.load(), {
      hardState: { term: 4, vote: null, commit: 21 },
      snapshot,
      entries: run(21, 22, 4),
    });
    s.close();
  });

  test('compaction keeps the snapshot and drops entries below the first kept', (t) => {
    const file = tempFile(t);
    let s = new RaftStorage(file);
    s.save({ hardState: { term: 2, vote: 'a', commit: 9 }, entries: run(1, 10, 2) });
    const before = s.sizeBytes;
    s.compact(snap(7, 2), 6);
    assert.ok(s.sizeBytes < before && s.sizeBytes > 0);
    const size = s.sizeBytes;
    s.close();
    s = new RaftStorage(file);
    assert.deepEqual(s.load(), {
      hardState: { term: 2, vote: 'a', commit: 9 },
      snapshot: snap(7, 2),
      entries: run(6, 10, 2),
    });
    assert.equal(s.sizeBytes, size);
    // Everything compacted away: appends continue after the snapshot.
    s.compact(snap(10, 2), 11);
    s.save({ entries: run(11, 11, 3) });
    assert.deepEqual(s.load().entries, run(11, 11, 3));
    s.close();
  });

  test('a save that would leave a gap is refused and writes nothing', (t) => {
    const s = new RaftStorage(tempFile(t));
    s.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: run(1, 3, 1) });
    const size = s.sizeBytes;
    assert.throws(
      () => s.save({ hardState: { term: 9, vote: 'z', commit: 0 }, entries: run(9, 9, 9) }),
      /gap/,
    );
    assert.throws(() => s.save({ entries: [entry(4, 1), entry(6, 1)] }), /not contiguous/);
    assert.equal(s.sizeBytes, size);
    assert.deepEqual(s.load(), {
      hardState: { term: 1, vote: null, commit: 0 },
      entries: run(1, 3, 1),
    });
    s.close();
  });

  test('a corrupt row or state is a clear error naming the file, never a wrong log', (t) => {
    const cases: [string, string, RegExp][] = [
      ["UPDATE entries SET type = 'weird' WHERE idx = 2", 'type', /entry 2 has type "weird"/],
      ['UPDATE entries SET term = 0.5 WHERE idx = 3', 'term', /entry 3 has term 0.5/],
      ['DELETE FROM entries WHERE idx = 2', 'gap', /jump from index 1 to 3/],
      ["UPDATE entries SET data = x'00ff' WHERE idx = 1", 'blob', /entry 1 has non-text data/],
      ["UPDATE meta SET value = '{\"term\":' WHERE key = 'hard_state'", 'hard', /hard state/],
      [
        'UPDATE meta SET value = \'{"term":1,"vote":null,"commit":99}\' WHERE key = \'hard_state\'',
        'commit',
        /commit 99/,
      ],
      ["UPDATE snapshot SET meta = '{}'", 'snap', /snapshot is unreadable/],
      ['UPDATE entries SET term = 3 WHERE idx >= 3', 'snapterm', /snapshot says 2/],
    ];
    for (const [sql, name, why] of cases) {
      const file = tempFile(t).replace('raft.db', `${name}.db`);
      const s = new RaftStorage(file);
      s.save({ hardState: { term: 2, vote: 'a', commit: 3 }, entries: run(1, 4, 2) });
      s.compact(snap(3, 2), 1);
      s.close();
      const db = new Database(file);
      db.exec(sql);
      db.close();
      const again = new RaftStorage(file);
      assert.throws(
        () => again.load(),
        (e: Error) => {
          assert.match(e.message, why, name);
          assert.ok(e.message.includes(file), `${name}: ${e.message} names the file`);
          return true;
        },
      );
      again.close();
    }
  });

  test('the model sequence exercises appends, tail replacement, snapshots and compaction', () => {
    const ops = Array.from({ length: 120 }, (_, i) => i + 1).reduce(
      (acc, n) => {
        const op = nextOp(n, acc.m);
        acc.kinds.add(op.kind === 'compact' ? 'compact' : op.snapshot ? 'snapshot' : 'save');
        if (op.kind === 'save' && op.entries[0] && op.entries[0].index <= lastIndex(acc.m))
          acc.kinds.add('replace');
        acc.m = applyOp(acc.m, op);
        return acc;
      },
      { m: empty(), kinds: new Set<string>() },
    );
    assert.deepEqual([...ops.kinds].sort(), ['compact', 'replace', 'save', 'snapshot']);
  });

  test('SIGKILL mid-writes: every save that returned is there after reopening, 10 times', async (t) => {
    for (let trial = 0; trial < 10; trial++) {
      const file = tempFile(t);
      const proc = spawn(process.execPath, [SELF, '--raft-storage-child', file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const closed = once(proc, 'close'); // 'close': every report in the pipe has been read
      let buffered = '';
      let stderr = '';
      let reported = 0;
      let firstSeen: () => void = () => undefined;
      const first = new Promise<void>((r) => (firstSeen = r));
      proc.stdout.on('data', (c: Buffer) => {
        buffered += c.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const l of lines) if (l) reported = Math.max(reported, Number(l));
        if (reported > 0) firstSeen();
      });
      proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const guard = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await Promise.race([first, closed]);
      assert.ok(reported > 0, `the child saved nothing: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
      proc.kill('SIGKILL');
      const [, signal] = (await closed) as [number | null, NodeJS.Signals | null];
      clearTimeout(guard);
      assert.equal(signal, 'SIGKILL', `the child ended on its own: ${stderr}`);
      const s = new RaftStorage(file);
      const got = s.load();
      s.close();
      // The kill may land after a commit but before its report: then one more step is there.
      const matches = [reported, reported + 1].filter((k) => {
        try {
          assert.deepEqual(got, modelAfter(k));
          return true;
        } catch {
          return false;
        }
      });
      assert.equal(matches.length, 1, `trial ${trial}: log after ${reported} reported saves`);
      const db = new Database(file, { readonly: true });
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      db.close();
    }
  });
}
