// A fixed sequence of store writes touching every command, whose results are compared byte for byte.
import type { ChangeSet, Command, Proposal } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import type { TaskRecord } from '../../shared/spec.js';
import { nodeRecord, serviceRecord } from './records.js';

export interface ScenarioResult {
  /** One line per proposal: its change set, or the error it was refused with. */
  outcomes: string[];
  /** dump() right after the writes, and again after the file was closed and opened. */
  live: string;
  reopened: string;
  /** dump() of a store restored from `live`. */
  restored: string;
}

const cluster = {
  id: 'c1',
  rootPub: 'root-pub',
  rootSecret: 'root-secret',
  workerToken: 'w0',
  managerToken: 'm0',
  heartbeatMs: 5000,
  createdAt: 1,
};

function task(id: string, serviceId: string, nodeId: string | null, version?: number): TaskRecord {
  return {
    id,
    serviceId,
    serviceName: serviceId.replace(/^svc-/, ''),
    slot: Number(id.replace(/\D/g, '')) || 0,
    nodeId,
    desiredState: 'running',
    specVersion: 1,
    template: { image: 'busybox' } as TaskRecord['template'],
    status: { state: 'new', message: '', error: null, at: 5 } as TaskRecord['status'],
    notBefore: 0,
    restartHistory: [],
    createdAt: 5,
    updatedAt: 5,
    ...(version === undefined ? {} : { version }),
  };
}

const file = (id: string, name: string) => ({
  id,
  name,
  size: 1,
  labels: {},
  createdAt: 2,
});

/** The proposals, in order; the later ones are refused (stale version, duplicate name). */
function proposals(): Proposal[] {
  const p = (...commands: Command[]): Proposal => ({ commands });
  return [
    p({ type: 'cluster.init', cluster }),
    p({ type: 'cluster.tokens', workerToken: 'w1', managerToken: 'm1' }),
    p(...['n1', 'n2', 'n3'].map((id): Command => ({ type: 'node.put', node: nodeRecord(id) }))),
    p({ type: 'node.put', node: nodeRecord('n1', { status: 'down', version: 3 }) }),
    p(
      { type: 'service.put', service: serviceRecord({ name: 'a', task: { image: 'busybox' } }) },
      { type: 'service.put', service: serviceRecord({ name: 'b', task: { image: 'busybox' } }) },
    ),
    p({
      type: 'service.put',
      service: { ...serviceRecord({ name: 'a', task: { image: 'busybox' } }), specVersion: 2 },
    }),
    p({
      type: 'tasks.put',
      tasks: [
        task('t1', 'svc-a', 'n1'),
        task('t2', 'svc-a', 'n2'),
        task('t3', 'svc-b', null),
        task('t4', 'svc-b', 'n1'),
      ],
    }),
    p({ type: 'tasks.put', tasks: [task('t2', 'svc-a', 'n3', 7)] }),
    p({ type: 'tasks.put', tasks: [task('t1', 'svc-a', 'n2', 7)] }),
    p({ type: 'tasks.delete', ids: ['t3', 'missing', 't3'] }),
    p(
      { type: 'secret.put', secret: { ...file('s1', 'pw'), encrypted: 'xx' } },
      { type: 'secret.put', secret: { ...file('s2', 'pw2'), encrypted: 'yy' } },
      { type: 'config.put', config: { ...file('c1', 'conf'), data: 'AA==' } },
    ),
    p({ type: 'secret.remove', id: 's2' }, { type: 'config.remove', id: 'nope' }),
    p({ type: 'node.remove', id: 'n3' }, { type: 'service.remove', id: 'svc-b' }),
    {
      commands: [{ type: 'node.put', node: nodeRecord('n4') }],
      request: { key: 'k1', response: { ok: 1 } },
    },
    {
      commands: [{ type: 'node.put', node: nodeRecord('n5') }],
      request: { key: 'k1', response: { ok: 2 } },
    },
    p({ type: 'tasks.put', tasks: [task('t4', 'svc-b', 'n2', 1)] }),
    p(
      { type: 'node.put', node: nodeRecord('n6') },
      {
        type: 'service.put',
        service: { ...serviceRecord({ name: 'a', task: { image: 'busybox' } }), id: 'svc-a2' },
      },
    ),
    p({ type: 'config.put', config: { ...file('c2', 'conf'), data: 'AQ==' } }),
    p({ type: 'tasks.put', tasks: [task('t5', 'svc-a', 'n1')] }),
  ];
}

const show = (c: ChangeSet): string =>
  JSON.stringify(c, (_k, v: unknown) => (v instanceof Set ? [...(v as Set<string>)] : v));

/** Runs the proposals on a store in `dbFile` (a new file) and reports every observable result. */
export function runStoreScenario(dbFile: string, restoreFile: string): ScenarioResult {
  const store = new Store(dbFile);
  const outcomes: string[] = [];
  for (const p of proposals()) {
    try {
      outcomes.push(show(store.apply(p)));
    } catch (e) {
      outcomes.push(`${(e as Error).name}: ${(e as Error).message} @${store.appliedIndex}`);
    }
    outcomes.push(
      JSON.stringify([
        [...store.tasks()].map((t) => t.id),
        store.tasksOfNode('n2').map((t) => t.id),
      ]),
    );
  }
  store.applyMembership(store.appliedIndex + 1, {
    op: 'upsert',
    member: { id: 'm1', address: '127.0.0.1:1' },
  });
  const live = store.dump();
  store.close();
  const again = new Store(dbFile);
  const reopened = again.dump();
  again.close();
  const other = new Store(restoreFile);
  const seen: string[] = [];
  other.on('change', (c: ChangeSet) => seen.push(show(c)));
  other.restore(live);
  const restored = other.dump();
  other.close();
  outcomes.push(...seen);
  return { outcomes, live, reopened, restored };
}
