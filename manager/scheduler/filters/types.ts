// A scheduler filter: a small rule that can say why it turned a node down.
import type { NodeRecord, TaskRecord, ServiceRecord } from '../../../shared/spec.js';

export interface NodeLoad {
  /** Tasks on the node that hold resources: desired running and not ended. */
  tasks: TaskRecord[];
}

export interface FilterContext {
  task: TaskRecord;
  service: ServiceRecord | undefined;
  node: NodeRecord;
  load: NodeLoad;
}

export interface Filter {
  name: string;
  /**
   * True when the verdict depends only on the node and the service, never on the task or the
   * node's load: a scheduling pass then asks once per service and node instead of once per task.
   */
  static?: boolean;
  /** null when the node passes, else a reason key; equal keys are counted together. */
  check(ctx: FilterContext): string | null;
}
