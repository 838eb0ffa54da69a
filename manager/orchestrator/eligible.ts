// The nodes a service's tasks may go to by its placement: up, not drained, workers, matching its constraints.
import { takesTasks, type NodeRecord, type ServiceRecord } from '../../shared/spec.js';
import { availabilityFilter, constraintFilter } from '../scheduler/filters/basic.js';
import type { StoreView } from '../store/view.js';
import { newTask } from './tasks.js';

/** Global services get one task on each of these; the CLI weighs rejections against them. */
export function eligibleNodes(store: StoreView, service: ServiceRecord): NodeRecord[] {
  const out: NodeRecord[] = [];
  const task = newTask(service, 0, null, 0);
  for (const node of store.nodes()) {
    if (node.status === 'down' || !takesTasks(node)) continue;
    const ctx = { node, service, task, load: { tasks: [] } };
    if (availabilityFilter.check(ctx) === 'availability drain') continue;
    if (constraintFilter.check(ctx)) continue;
    out.push(node);
  }
  return out;
}
