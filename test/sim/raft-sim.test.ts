// Seeded randomized simulations of the Raft core, checked for Raft's safety properties, linearizability and liveness.
//
//   node --test dist/test/sim/raft-sim.test.js                 1000 seeds (FLEET_SIM_SEEDS=n for n)
//   FLEET_SIM_SEED=<n> node --test dist/test/sim/raft-sim.test.js   one seed, with its full trace
//   FLEET_SIM_FIRST_SEED=<n>                                        start the range elsewhere
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation, type Mutation, type SimReport } from './sim.js';

const REPRO = 'node --test dist/test/sim/raft-sim.test.js';
const single = process.env.FLEET_SIM_SEED;
const count = Number(process.env.FLEET_SIM_SEEDS ?? 1000);
const firstSeed = Number(process.env.FLEET_SIM_FIRST_SEED ?? 1);

function problems(r: SimReport): string[] {
  const out = [...r.violations];
  if (!r.linearizability.ok) out.push(r.linearizability.explanation ?? 'not linearizable');
  return out;
}

function failure(r: SimReport, found: string[]): string {
  return (
    `simulation failed: ${r.description}\n${found.join('\n')}\n` +
    `reproduce with: FLEET_SIM_SEED=${r.seed} ${REPRO}`
  );
}

if (single !== undefined) {
  test(`simulation seed ${single} (verbose)`, () => {
    const r = runSimulation({ seed: Number(single), log: (line) => console.log(line) });
    console.log(JSON.stringify(r.stats));
    console.log(`linearizability: ${JSON.stringify(r.linearizability)}`);
    const found = problems(r);
    assert.deepEqual(found, [], failure(r, found));
  });
} else {
  test(`${count} seeded simulations keep Raft safe, linearizable and live`, () => {
    const failures: string[] = [];
    let inconclusive = 0;
    let writes = 0;
    let reads = 0;
    const started = Date.now();
    for (let seed = firstSeed; seed < firstSeed + count; seed++) {
      const r = runSimulation({ seed });
      const found = problems(r);
      if (found.length > 0) failures.push(failure(r, found));
      if (r.linearizability.inconclusive === true) inconclusive++;
      writes += r.stats.writesOk;
      reads += r.stats.readsOk;
      if (failures.length >= 5) break;
    }
    const secs = (Date.now() - started) / 1000;
    console.log(
      `${count} runs in ${secs.toFixed(1)} s (${(count / secs).toFixed(0)} runs/s); ` +
        `${writes} acknowledged writes, ${reads} reads; ${inconclusive} inconclusive histories`,
    );
    assert.equal(failures.length, 0, failures.join('\n\n'));
    // The checks would pass vacuously without traffic: make sure the workload really ran.
    assert.ok(
      writes > count * 5 && reads > count * 5,
      `too little workload: ${writes} writes, ${reads} reads`,
    );
    assert.ok(inconclusive <= count / 100, `${inconclusive} histories were too large to check`);
  });
}

// Determinism and checker-sensitivity checks run with the full suite, not when reproducing one seed.
if (single === undefined) {
  test('the same seed reproduces the same run exactly', () => {
    for (const seed of [3, 17, 101]) {
      const a = runSimulation({ seed, trace: true });
      const b = runSimulation({ seed, trace: true });
      assert.ok(a.trace.length > 100, 'trace is too short to mean anything');
      assert.deepEqual(a.trace, b.trace, `seed ${seed} diverged`);
      assert.deepEqual(a.history, b.history);
      assert.notDeepEqual(a.trace, runSimulation({ seed: seed + 1, trace: true }).trace);
    }
  });

  // The simulation must not pass vacuously: with a deliberate bug in the harness, the checkers
  // have to notice it in several runs out of at most 150.
  const MUTATIONS: Array<{ mutation: Mutation; expect: RegExp }> = [
    { mutation: 'stale-reads', expect: /not linearizable/ },
    { mutation: 'leader-reads', expect: /not linearizable/ },
    { mutation: 'early-ack', expect: /not linearizable/ },
    { mutation: 'lose-log-tail', expect: /state machine safety|leader completeness|log matching/ },
  ];
  for (const { mutation, expect } of MUTATIONS) {
    test(`the checkers catch a deliberate bug: ${mutation}`, () => {
      let caught = 0;
      let seed = 1;
      for (; seed <= 150 && caught < 3; seed++) {
        const r = runSimulation({ seed, mutation, settleTicks: 60 });
        if (problems(r).some((p) => expect.test(p))) caught++;
      }
      assert.ok(caught >= 3, `${mutation} caught in only ${caught} of ${seed - 1} runs`);
    });
  }
}
