// Carrying out the workload against the cluster: its services created, churned and removed, and the numbered writes.
import type { Params } from '../../../shared/api.js';
import type { RpcClient } from '../rpc-client.js';
import type { ActionRecord } from './model.js';
import type { Workload, WorkloadAction } from './workload.js';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export function workloadServices(w: Workload): string[] {
  return [w.churn.name, ...(w.probe ? [w.probe.name] : [])];
}

type Spec = Params<'service.create'>['spec'];

function specs(w: Workload): Spec[] {
  const out: Spec[] = [
    {
      name: w.churn.name,
      replicas: w.churn.min,
      task: { image: w.churn.image, command: w.churn.command, env: { SOAK_GEN: '0' } },
      constraints: w.churn.constraints,
      labels: { 'fleet.soak': 'churn' },
      update: {
        parallelism: 2,
        delayMs: 0,
        monitorMs: 1_000,
        failureAction: 'pause',
        order: 'stop-first',
      },
    },
  ];
  if (w.probe)
    out.push({
      name: w.probe.name,
      // One per real board wherever there are some: it converges on any rack.
      mode: 'global',
      task: {
        image: w.probe.image,
        command: w.probe.command,
        ports: [{ target: w.probe.target, published: w.probe.published }],
      },
      constraints: w.probe.constraints,
      labels: { 'fleet.soak': 'probe' },
    });
  return out;
}

/** Removes what an earlier run left, then creates the workload's services. */
export async function createServices(
  client: RpcClient,
  w: Workload,
  at: number,
): Promise<ActionRecord[]> {
  const existing = new Set((await client.call('service.ls', {})).map((s) => s.name));
  for (const name of workloadServices(w))
    if (existing.has(name)) await client.call('service.rm', { service: name });
  const out: ActionRecord[] = [];
  for (const spec of specs(w)) {
    await client.call('service.create', { spec });
    out.push({
      at,
      kind: 'create',
      service: spec.name,
      detail: `${spec.replicas} replicas`,
      acked: true,
    });
  }
  return out;
}

export async function removeServices(client: RpcClient, w: Workload): Promise<void> {
  for (const name of workloadServices(w))
    await client.call('service.rm', { service: name }).catch(() => undefined);
}

/** One churn action; a refusal (an update already running, no leader) is recorded, not thrown. */
export async function act(
  client: RpcClient,
  w: Workload,
  a: WorkloadAction,
  at: number,
): Promise<ActionRecord> {
  const service = w.churn.name;
  const base = { at, kind: a.kind, service };
  try {
    if (a.kind === 'scale') {
      await client.call('service.update', { service, replicas: a.replicas });
      return { ...base, detail: `to ${a.replicas} replicas`, acked: true };
    }
    if (a.kind === 'update') {
      await client.call('service.update', { service, envAdd: { SOAK_GEN: String(a.generation) } });
      return { ...base, detail: `SOAK_GEN=${a.generation}`, acked: true };
    }
    await client.call('service.rollback', { service });
    return { ...base, detail: 'to the previous spec', acked: true };
  } catch (e) {
    return { ...base, detail: '', acked: false, error: message(e) };
  }
}

/** The numbered writes: each acknowledged config must still be there at the end. */
export class WriteLog {
  readonly acked: string[] = [];
  unacked = 0;
  private n = 0;

  constructor(private readonly prefix: string) {}

  async write(client: RpcClient, at: number): Promise<ActionRecord> {
    const name = `${this.prefix}-${++this.n}`;
    try {
      await client.call('config.create', {
        name,
        data: Buffer.from(`${name} ${at}`).toString('base64'),
      });
      this.acked.push(name);
      return { at, kind: 'write', service: '', detail: name, acked: true };
    } catch (e) {
      this.unacked++;
      return { at, kind: 'write', service: '', detail: name, acked: false, error: message(e) };
    }
  }

  /** The acknowledged writes the cluster no longer has. */
  async lost(client: RpcClient): Promise<string[]> {
    const have = new Set((await client.call('config.ls', {})).map((c) => c.name));
    return this.acked.filter((n) => !have.has(n));
  }

  async clean(client: RpcClient): Promise<void> {
    const have = (await client.call('config.ls', {})).map((c) => c.name);
    for (const name of have.filter((n) => n.startsWith(`${this.prefix}-`)))
      await client.call('config.rm', { config: name }).catch(() => undefined);
  }
}
