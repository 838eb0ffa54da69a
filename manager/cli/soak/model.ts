// What the soak sees of the cluster at each sample, and what it did: the records every check and the report read.
import type { SoakFault } from './schedule.js';

export type InvariantName =
  | 'replicas-converge'
  | 'no-lost-write'
  | 'no-unexplained-restart'
  | 'no-false-down'
  | 'no-stuck-task'
  | 'managers-agree'
  | 'ingress-answers'
  | 'no-resource-drift';

export const INVARIANTS: readonly InvariantName[] = [
  'replicas-converge',
  'no-lost-write',
  'no-unexplained-restart',
  'no-false-down',
  'no-stuck-task',
  'managers-agree',
  'ingress-answers',
  'no-resource-drift',
];

export interface Violation {
  invariant: InvariantName;
  /** Ms from the start of the run: when it was first broken, and mended (absent: never). */
  from: number;
  to?: number;
  detail: string;
}

export interface NodeSample {
  id: string;
  name: string;
  role: 'manager' | 'worker';
  status: string;
  sim: boolean;
  /** An agent runs there (a manager started without one has none, and no ingress). */
  agent: boolean;
  /** Where its ingress listens. */
  address: string;
  /** HOST:PORT of the manager on it, if one runs there. */
  managerAddress?: string;
}

export interface TaskSample {
  id: string;
  service: string;
  slot: number;
  node: string | null;
  desiredState: string;
  state: string;
  restarts: number;
}

export interface ServiceSample {
  name: string;
  running: number;
  desired: number;
}

export interface Observation {
  /** Ms from the start of the run. */
  t: number;
  /** False when no manager answered this time: the rest is empty. */
  answered: boolean;
  leader: string | null;
  nodes: NodeSample[];
  services: ServiceSample[];
  tasks: TaskSample[];
}

/** What a board's own runtime runs, by its stats answer. */
export interface BoardTruth {
  t: number;
  node: string;
  running: string[];
}

/** Each manager's own copy of the services, compared with the others'. */
export interface ManagerViews {
  t: number;
  /** Manager id → "name:desired:version;…", or null when it did not answer. */
  views: Record<string, string | null>;
}

export interface ProbeTally {
  t: number;
  node: string;
  ok: number;
  failed: number;
}

export interface ProcessSample {
  t: number;
  /** "manager <name>" or "agent <name>". */
  process: string;
  rssBytes: number;
  openFiles: number;
  cpuMs: number;
}

export interface FaultRecord {
  n: number;
  kind: SoakFault;
  target: string | null;
  targetName: string | null;
  start: number;
  end: number;
  /** Why it was not carried out (no eligible target, refused, no answer). */
  error?: string;
  /** Ms from its start until every service had its replicas and every node was ready again. */
  convergedAfter?: number;
}

export interface ActionRecord {
  at: number;
  kind: 'create' | 'scale' | 'update' | 'rollback' | 'write';
  service: string;
  detail: string;
  acked: boolean;
  error?: string;
}

/** A fault's window as the checks use it: who was hit, from when, until when effects may last. */
export const affects = (f: FaultRecord, node: string): boolean =>
  f.target === node && f.error === undefined;
