// depends_on: whether a service's dependencies are in the state its new tasks wait for, and if not, what to say.
import {
  isJobMode,
  isPerNodeMode,
  type Dependency,
  type ServiceRecord,
  type TaskRecord,
} from '../../shared/spec.js';
import type { StoreView } from '../store/view.js';

/**
 * Null when every dependency of the service holds, else what its tasks wait for. Started: one
 * of the dependency's tasks is running; healthy: one is running and passes its health check
 * (or has none); completed: a job (or a service that exits) whose tasks all exited 0.
 */
export function dependencyWait(store: StoreView, service: ServiceRecord): string | null {
  for (const d of service.spec.dependsOn ?? []) {
    const dep = store.serviceByName(d.service);
    if (!dep) return `waiting for ${d.service}, which does not exist`;
    if (!holds(store, dep, d.condition)) return `waiting for ${d.service} to ${verb(d)}`;
  }
  return null;
}

function verb(d: Dependency): string {
  switch (d.condition) {
    case 'service_started':
      return 'start';
    case 'service_healthy':
      return 'be healthy';
    case 'service_completed_successfully':
      return 'complete successfully';
  }
}

function holds(store: StoreView, dep: ServiceRecord, condition: Dependency['condition']): boolean {
  const tasks = store.tasksOfService(dep.id);
  if (condition === 'service_completed_successfully') return completed(dep, tasks);
  if (!isPerNodeMode(dep.spec.mode) && dep.spec.replicas === 0) return true;
  return tasks.some(
    (t) =>
      t.desiredState === 'running' &&
      t.status.state === 'running' &&
      (condition === 'service_started' ||
        t.status.health === undefined ||
        t.status.health === 'healthy'),
  );
}

/** Every task the current spec version needs has exited 0. */
function completed(dep: ServiceRecord, tasks: TaskRecord[]): boolean {
  const current = tasks.filter((t) => t.specVersion === dep.specVersion);
  const done = current.filter((t) => t.status.state === 'complete' && t.status.exitCode === 0);
  if (isPerNodeMode(dep.spec.mode))
    return done.length > 0 && current.every((t) => t.status.state === 'complete');
  const needed = isJobMode(dep.spec.mode) ? dep.spec.replicas : Math.max(1, dep.spec.replicas);
  return new Set(done.map((t) => t.slot)).size >= needed;
}
