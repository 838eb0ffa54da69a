// On the leader, turns every applied change of nodes, tasks, services and rollouts into cluster events.
import type { Clock } from '../../shared/clock.js';
import type { EventDraft } from '../../shared/events.js';
import type { LeaderPart } from '../leader/controller.js';
import type { ChangeSet } from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import {
  nodeEvents,
  nodeFacts,
  rolloutEvents,
  rolloutFacts,
  serviceEvents,
  serviceFacts,
  taskEvents,
  taskFacts,
  type NodeFacts,
  type RolloutFacts,
  type ServiceFacts,
  type TaskFacts,
} from './diff.js';

export interface EventRecorderDeps {
  store: StoreView;
  clock: Clock;
  /** This manager's node id, named in its "leader elected" event. */
  self: string;
  record(e: EventDraft): void;
}

/**
 * Watches the store rather than each writer: whoever writes a node down or a task's new state
 * (dispatcher, orchestrator, updater, API), the event follows the commit, in commit order. Starts
 * before the other leader parts, so their first writes are seen.
 */
export class EventRecorder implements LeaderPart {
  private nodes = new Map<string, NodeFacts>();
  private tasks = new Map<string, TaskFacts>();
  private services = new Map<string, ServiceFacts>();
  private rollouts = new Map<string, RolloutFacts>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: EventRecorderDeps) {}

  start(): void {
    const { store, clock, self } = this.deps;
    this.nodes = new Map([...store.nodes()].map((n) => [n.id, nodeFacts(n)]));
    this.tasks = new Map([...store.tasks()].map((t) => [t.id, taskFacts(t)]));
    this.services = new Map([...store.services()].map((s) => [s.id, serviceFacts(s)]));
    this.rollouts = new Map([...store.upgrades()].map((r) => [r.id, rolloutFacts(r)]));
    this.unsubscribe?.();
    this.unsubscribe = store.onChange((c) => this.changed(c));
    this.deps.record({
      at: clock.now(),
      type: 'manager',
      action: 'leader elected',
      actor: { id: self, name: store.node(self)?.name ?? self },
      attrs: { appliedIndex: String(store.appliedIndex) },
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Nodes first, then services and rollouts, then tasks: a node's fall before its tasks' moves. */
  private changed(c: ChangeSet): void {
    const { store, clock } = this.deps;
    const at = clock.now();
    const out: EventDraft[] = [];
    for (const id of c.nodes) {
      const next = store.node(id);
      out.push(...nodeEvents(id, this.nodes.get(id), next, at));
      remember(this.nodes, id, next && nodeFacts(next));
    }
    for (const id of c.services) {
      const next = store.service(id);
      out.push(...serviceEvents(id, this.services.get(id), next, at));
      remember(this.services, id, next && serviceFacts(next));
    }
    for (const id of c.upgrades) {
      const next = [...store.upgrades()].find((r) => r.id === id);
      out.push(...rolloutEvents(this.rollouts.get(id), next, at));
      remember(this.rollouts, id, next && rolloutFacts(next));
    }
    const nodeName = (id: string): string => store.node(id)?.name ?? id;
    for (const id of c.tasks) {
      const next = store.task(id);
      out.push(...taskEvents(this.tasks.get(id), next, nodeName, at));
      remember(this.tasks, id, next && taskFacts(next));
    }
    for (const e of out) this.deps.record(e);
  }
}

function remember<T>(m: Map<string, T>, id: string, facts: T | undefined): void {
  if (facts === undefined) m.delete(id);
  else m.set(id, facts);
}
