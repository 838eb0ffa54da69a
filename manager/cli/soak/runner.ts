// The soak loop: faults and workload actions on schedule, the cluster sampled every second, every check fed, then the report.
import type { ChaosResult, Fault } from '../../../shared/chaos.js';
import type { Clock } from '../../../shared/clock.js';
import type { RpcClient } from '../rpc-client.js';
import { Checks } from './checks.js';
import type {
  ActionRecord,
  FaultRecord,
  NodeSample,
  Observation,
  ProbeTally,
  ProcessSample,
} from './model.js';
import { managerViews, observe } from './observe.js';
import { ProbeCounter } from './probes.js';
import { writeReport, type RunRecord, type Summary } from './report.js';
import { planFaults, type SoakFault } from './schedule.js';
import { resolveTarget, statTargets } from './targets.js';
import { act, createServices, removeServices, workloadServices, WriteLog } from './workload-run.js';
import { planActions, type Workload } from './workload.js';

export interface ChaosPort {
  /** One order to a node; manager faults go to that manager itself, board faults through the leader. */
  send(
    node: NodeSample,
    fault: Fault,
    durationMs: number,
    params: Record<string, number>,
  ): Promise<ChaosResult>;
  /** Runs `fn` with a client that reads one manager's own copy (no redirect to the leader). */
  read<T>(address: string, fn: (c: RpcClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SoakOptions {
  durationMs: number;
  seed: number;
  kinds: SoakFault[];
  workload: Workload;
  reportDir: string;
  boundMs: number;
  gapMs: number;
  simulate: number;
  version: string;
  keep: boolean;
  clock: Clock;
  log(line: string): void;
}

const SAMPLE_MS = 1_000;
const VIEWS_EVERY = 5;
const STATS_EVERY = 10;

/** Runs the soak against `client`'s cluster and writes the report; the summary says whether it passed. */
export async function runSoak(
  o: SoakOptions,
  client: RpcClient,
  chaos: ChaosPort,
): Promise<Summary> {
  return new SoakRun(o, client, chaos).run();
}

class SoakRun {
  private readonly services: string[];
  private readonly writes: WriteLog;
  private readonly faults: FaultRecord[] = [];
  private readonly actions: ActionRecord[] = [];
  private readonly checks: Checks;
  private readonly probes = new ProbeCounter();
  private readonly rec = {
    probes: [] as ProbeTally[],
    processes: [] as ProcessSample[],
    lag: [] as RunRecord['lag'],
  };
  private readonly pending = new Set<Promise<unknown>>();
  private t0 = 0;
  private last: Observation | null = null;

  constructor(
    private readonly o: SoakOptions,
    private readonly client: RpcClient,
    private readonly chaos: ChaosPort,
  ) {
    this.services = workloadServices(o.workload);
    this.writes = new WriteLog(`soak-w-${o.seed.toString(36)}`);
    this.checks = new Checks({ boundMs: o.boundMs }, this.faults, this.actions);
  }

  private now(): number {
    return this.o.clock.now() - this.t0;
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async run(): Promise<Summary> {
    const { o, client } = this;
    const startedAt = new Date(o.clock.now()).toISOString();
    await this.writes.clean(client).catch(() => undefined);
    this.t0 = o.clock.now();
    const created = await createServices(client, o.workload, 0);
    await settle(client, this.services, o, () => this.now(), null);
    // The run's clock starts once the workload runs: faults and actions are timed from here.
    this.t0 = o.clock.now();
    this.actions.push(...created);
    await this.loop();
    await Promise.allSettled([...this.pending]);
    o.log('soak: faults over; waiting for the cluster to be whole');
    await settle(
      client,
      this.services,
      o,
      () => this.now(),
      (obs) => this.seen(obs),
    );
    const lost = await this.writes.lost(client).catch(() => this.writes.acked);
    if (!o.keep) {
      await removeServices(client, o.workload);
      await this.writes.clean(client).catch(() => undefined);
    }
    for (const name of lost)
      this.checks.violations.push({
        invariant: 'no-lost-write',
        from: this.now(),
        detail: `config ${name} was acknowledged but is gone`,
      });
    return writeReport(o.reportDir, {
      version: o.version,
      seed: o.seed,
      startedAt,
      durationMs: o.durationMs,
      endedMs: this.now(),
      chaos: o.kinds,
      simulate: o.simulate,
      boundMs: o.boundMs,
      faults: this.faults,
      actions: this.actions,
      violations: this.checks.violations,
      ...this.rec,
      writes: { acked: this.writes.acked.length, lost, unacked: this.writes.unacked },
    });
  }

  private seen(obs: Observation): void {
    this.checks.observe(obs);
    if (obs.answered) this.last = obs;
    markConverged(this.faults, obs);
  }

  private async loop(): Promise<void> {
    const { o, client } = this;
    const plan = planFaults({
      seed: o.seed,
      durationMs: o.durationMs,
      kinds: o.kinds,
      gapMs: o.gapMs,
    });
    const todo = planActions(o.workload, o.seed, o.durationMs);
    o.log(
      `soak: ${plan.length} faults and ${todo.length} workload actions planned over ${Math.round(o.durationMs / 1000)} s (seed ${o.seed})`,
    );
    let nextWrite = o.workload.writeEvery;
    for (let tick = 0; ; tick++) {
      const t = this.now();
      this.seen(await observe(client, t, this.services));
      const last = this.last;
      for (let p = plan[0]; p && p.at <= t && last; p = plan[0])
        this.track(fire(plan.shift() ?? p, last, t, this.chaos, this.faults, o));
      for (let a = todo[0]; a && a.at <= t; a = todo[0]) {
        todo.shift();
        this.track(act(client, o.workload, a, t).then((r) => this.actions.push(r)));
      }
      if (t >= nextWrite) {
        nextWrite += o.workload.writeEvery;
        this.track(this.writes.write(client, t).then((r) => this.actions.push(r)));
      }
      if (last) this.sample(last, tick, t);
      if (t >= o.durationMs) return;
      await o.clock.sleep(Math.max(0, SAMPLE_MS - (this.now() - t)));
    }
  }

  private sample(last: Observation, tick: number, t: number): void {
    probeAll(last, this.o, this.probes, (p) => this.track(p));
    if (tick % VIEWS_EVERY === 0)
      this.track(views(last, this.chaos, this.services, t, this.checks));
    if (tick % STATS_EVERY === 0) this.track(stats(last, this.chaos, t, this.rec, this.checks));
    if (tick % 5 === 4)
      for (const p of this.probes.take(t)) {
        this.rec.probes.push(p);
        this.checks.probes(p);
      }
  }
}

const whole = (o: Observation, services: readonly string[]): boolean =>
  o.answered &&
  services.every((s) => o.services.some((x) => x.name === s && x.running === x.desired)) &&
  o.nodes.every((n) => n.status === 'ready' || n.status === 'unknown');

/** Waits (at most the bound) until every service has its replicas and every node is ready. */
async function settle(
  client: RpcClient,
  services: readonly string[],
  o: SoakOptions,
  now: () => number,
  each: ((obs: Observation) => void) | null,
): Promise<void> {
  const until = now() + o.boundMs;
  while (now() < until) {
    const obs = await observe(client, now(), services);
    each?.(obs);
    if (whole(obs, services)) return;
    await o.clock.sleep(SAMPLE_MS);
  }
}

function markConverged(faults: FaultRecord[], obs: Observation): void {
  if (!obs.answered) return;
  const ok =
    obs.services.every((s) => s.running === s.desired) &&
    obs.nodes.every((n) => n.status !== 'down');
  if (!ok) return;
  for (const f of faults)
    if (f.convergedAfter === undefined && f.error === undefined && obs.t >= f.end)
      f.convergedAfter = obs.t - f.start;
}

async function fire(
  p: ReturnType<typeof planFaults>[number],
  obs: Observation,
  t: number,
  chaos: ChaosPort,
  faults: FaultRecord[],
  o: SoakOptions,
): Promise<void> {
  const target = resolveTarget(p, obs);
  const rec: FaultRecord = {
    n: p.n,
    kind: p.kind,
    target: null,
    targetName: null,
    start: t,
    end: t + p.durationMs,
  };
  faults.push(rec);
  if ('error' in target) {
    rec.error = target.error;
    o.log(`soak: fault #${p.n} ${p.kind} skipped: ${target.error}`);
    return;
  }
  rec.target = target.node.id;
  rec.targetName = target.node.name;
  try {
    const r = await chaos.send(target.node, target.fault, p.durationMs, p.params);
    if (!r.ok) rec.error = r.error ?? 'refused';
  } catch (e) {
    rec.error = e instanceof Error ? e.message : String(e);
  }
  o.log(
    `soak: fault #${p.n} ${p.kind} on ${target.node.name} for ${(p.durationMs / 1000).toFixed(1)} s${rec.error ? `: ${rec.error}` : ''}`,
  );
}

function probeAll(
  obs: Observation,
  o: SoakOptions,
  probes: ProbeCounter,
  track: (p: Promise<unknown>) => void,
): void {
  const probe = o.workload.probe;
  if (!probe || !obs.services.some((s) => s.name === probe.name && s.running > 0)) return;
  for (const n of obs.nodes) {
    if (n.agent && n.address) track(probes.probe(n.name, n.address, probe.published));
  }
}

async function views(
  obs: Observation,
  chaos: ChaosPort,
  services: readonly string[],
  t: number,
  checks: Checks,
): Promise<void> {
  const addresses = Object.fromEntries(
    obs.nodes.flatMap((n) => (n.managerAddress ? [[n.id, n.managerAddress]] : [])),
  );
  if (Object.keys(addresses).length < 2) return;
  checks.managers(await managerViews(addresses, chaos, services, t));
}

async function stats(
  obs: Observation,
  chaos: ChaosPort,
  t: number,
  rec: { processes: ProcessSample[]; lag: RunRecord['lag'] },
  checks: Checks,
): Promise<void> {
  const sampled = new Map(statTargets(obs).map((x) => [x.node.id, x.process]));
  const asked = obs.nodes.filter(
    (n) => sampled.has(n.id) || (n.role === 'worker' && n.status === 'ready'),
  );
  await Promise.all(
    asked.map(async (node) => {
      const r = await chaos.send(node, 'stats', 0, {}).catch(() => null);
      const s = r?.ok ? r.stats : undefined;
      if (!s) return;
      const process = sampled.get(node.id);
      if (process)
        rec.processes.push({
          t,
          process,
          rssBytes: s.rssBytes,
          openFiles: s.openFiles,
          cpuMs: s.cpuMs,
        });
      if (s.running && node.role === 'worker')
        checks.boardTruth({ t, node: node.id, running: s.running }, obs);
      if (s.lag && node.id === obs.leader) rec.lag.push({ t, ...s.lag });
    }),
  );
}
