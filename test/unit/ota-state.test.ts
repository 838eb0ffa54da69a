// The A/B upgrade state: switch → trial → commit or fall back, recovery at start, and its file on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../shared/clock.js';
import {
  FACTORY,
  OtaStateError,
  beginSwitch,
  commitTrial,
  demoteCurrent,
  fallBack,
  initialState,
  recoverAtStart,
  releaseToRun,
  releasesInUse,
  startTrial,
} from '../../agent/ota/ota-state.js';
import {
  loadState,
  removeStaleStateTemps,
  saveState,
  stateFile,
  type SavePoint,
} from '../../agent/ota/ota-state-file.js';

const MONITOR = 60_000;

test('a healthy switch runs the new release on trial, then commits it with the old one as previous', () => {
  const clock = new FakeClock();
  let s = beginSwitch(initialState(), '1.1.0');
  assert.equal(releaseToRun(s), FACTORY, 'the old release runs until the trial starts');
  s = startTrial(s, clock.now(), MONITOR);
  assert.deepEqual(s.trial, {
    version: '1.1.0',
    from: FACTORY,
    started: true,
    deadline: clock.now() + MONITOR,
  });
  assert.equal(releaseToRun(s), '1.1.0');
  clock.advance(5_000);
  s = commitTrial(s, clock.now());
  assert.equal(s.current, '1.1.0');
  assert.equal(s.previous, FACTORY);
  assert.equal(s.trial, undefined);
  assert.equal(s.committedAt, clock.now());
  assert.deepEqual([...releasesInUse(s)].sort(), ['1.1.0', FACTORY]);
});

test('a failed trial goes back to the release it came from and keeps the reason', () => {
  const clock = new FakeClock();
  let s = commitTrial(startTrial(beginSwitch(initialState(), '1.1.0'), 0, MONITOR), 0);
  s = startTrial(beginSwitch(s, '1.2.0'), clock.now(), MONITOR);
  clock.advance(MONITOR);
  s = fallBack(s, 'did not report healthy', clock.now());
  assert.equal(s.current, '1.1.0');
  assert.equal(s.previous, FACTORY);
  assert.equal(releaseToRun(s), '1.1.0');
  assert.deepEqual(s.lastFailure, {
    version: '1.2.0',
    reason: 'did not report healthy',
    at: clock.now(),
  });
  assert.ok(!releasesInUse(s).has('1.2.0'), 'the failed release may be removed');
});

test('a supervisor that finds a started trial falls back instead of running it again', () => {
  const clock = new FakeClock();
  const s = startTrial(beginSwitch(initialState(), '2.0.0'), clock.now(), MONITOR);
  const r = recoverAtStart(s, clock.now());
  assert.equal(r.current, FACTORY);
  assert.equal(r.trial, undefined);
  assert.equal(r.lastFailure?.version, '2.0.0');
  assert.match(r.lastFailure?.reason ?? '', /restarted during the trial/);
  assert.equal(recoverAtStart(r, clock.now()), r, 'a settled state is left alone');
});

test('a switch decided but not started is carried on after a restart', () => {
  const s = beginSwitch(initialState(), '2.0.0');
  assert.equal(recoverAtStart(s, 0), s);
});

test('transitions out of order are refused', () => {
  const s = initialState();
  assert.throws(() => startTrial(s, 0, MONITOR), OtaStateError);
  assert.throws(() => commitTrial(s, 0), OtaStateError);
  assert.throws(() => commitTrial(beginSwitch(s, '1.0.0'), 0), OtaStateError, 'not started');
  assert.throws(() => fallBack(s, 'x', 0), OtaStateError);
  assert.throws(() => beginSwitch(beginSwitch(s, '1.0.0'), '1.1.0'), /already under way/);
  assert.throws(() => beginSwitch(s, FACTORY), /already running/);
  const started = startTrial(beginSwitch(s, '1.0.0'), 0, MONITOR);
  assert.throws(() => startTrial(started, 0, MONITOR), /already started/);
  assert.throws(() => demoteCurrent(s, 'x', 0), OtaStateError);
});

test('a committed release that cannot run is demoted to the one before, else the factory one', () => {
  let s = commitTrial(startTrial(beginSwitch(initialState(), '1.0.0'), 0, MONITOR), 0);
  s = commitTrial(startTrial(beginSwitch(s, '1.1.0'), 0, MONITOR), 0);
  const d = demoteCurrent(s, 'bundle damaged', 7);
  assert.equal(d.current, '1.0.0');
  assert.deepEqual(d.lastFailure, { version: '1.1.0', reason: 'bundle damaged', at: 7 });
  const again = demoteCurrent(d, 'also damaged', 8);
  assert.equal(again.current, FACTORY);
});

function tempData(): string {
  return mkdtempSync(path.join(tmpdir(), 'fleet-ota-state-'));
}

test('the state file round-trips, and a save leaves no temp file', (t) => {
  const dir = tempData();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(loadState(dir), { state: initialState() }, 'no file: the factory release');
  const s = startTrial(beginSwitch(initialState(), '1.0.0'), 1, MONITOR);
  const points: SavePoint[] = [];
  saveState(dir, s, (p) => points.push(p));
  assert.deepEqual(points, ['state-written', 'state-renamed']);
  assert.deepEqual(loadState(dir).state, s);
  assert.deepEqual(readdirSync(path.dirname(stateFile(dir))), ['state.json']);
});

test('a save interrupted before its rename leaves the old state; the writer cleans up its temp file', (t) => {
  const dir = tempData();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const before = beginSwitch(initialState(), '1.0.0');
  saveState(dir, before);
  const after = startTrial(before, 1, MONITOR);
  assert.throws(() =>
    saveState(dir, after, (p) => {
      if (p === 'state-written') throw new Error('power cut');
    }),
  );
  assert.equal(readdirSync(path.dirname(stateFile(dir))).length, 2, 'the temp file is there');
  assert.deepEqual(loadState(dir).state, before);
  assert.equal(readdirSync(path.dirname(stateFile(dir))).length, 2, 'a reader removes nothing');
  removeStaleStateTemps(dir);
  assert.deepEqual(readdirSync(path.dirname(stateFile(dir))), ['state.json']);
});

test('a damaged state file runs the factory release and says why', (t) => {
  const dir = tempData();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.dirname(stateFile(dir)), { recursive: true });
  writeFileSync(stateFile(dir), '{"v":1,"current":');
  const r = loadState(dir);
  assert.deepEqual(r.state, initialState());
  assert.match(r.damaged ?? '', /damaged/);
  writeFileSync(stateFile(dir), JSON.stringify({ v: 2, current: 'x' }));
  assert.match(loadState(dir).damaged ?? '', /damaged/);
  assert.ok(readFileSync(stateFile(dir), 'utf8').includes('"v":2'), 'the file is left for a look');
});
