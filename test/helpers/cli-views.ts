// Service and task views as the manager answers them, for unit tests of the CLI's output and following.
import type { ServiceDetail, TaskView } from '../../shared/api.js';
import { buildSpec } from '../../manager/cli/service/spec.js';

export const T0 = Date.parse('2030-01-01T00:00:00Z');

export const iso = (ms: number): string => new Date(ms).toISOString();

/** Service web of nginx, with `replicas` desired and none running yet. */
export function serviceDetail(
  replicas: number,
  mode: 'replicated' | 'global' = 'replicated',
): ServiceDetail {
  const spec = buildSpec({ name: 'web', image: 'nginx', mode, replicas: undefined });
  return {
    id: 's1',
    name: 'web',
    mode,
    replicas: { running: 0, desired: replicas },
    image: 'nginx',
    ports: [],
    ingress: [],
    spec: { ...spec, replicas },
    specVersion: 1,
    digest: null,
    withRegistryAuth: false,
    createdAt: iso(T0),
    updatedAt: iso(T0),
  };
}

/** Task web.SLOT of spec version 1 on pi-1, desired running; override any field. */
export function taskView(slot: number, state: string, over: Partial<TaskView> = {}): TaskView {
  return {
    id: `t${slot}${state}`,
    name: `web.${slot}`,
    service: 'web',
    slot,
    image: 'nginx',
    digest: null,
    specVersion: 1,
    node: 'n1',
    nodeName: 'pi-1',
    desiredState: 'running',
    state,
    message: '',
    error: null,
    restarts: 0,
    health: 'none',
    hostPorts: [],
    updatedAt: iso(T0 + 1000),
    ...over,
  };
}

/** `d` with an update (or, for a state starting 'roll', a rollback) in `state`. */
export function withUpdate(
  d: ServiceDetail,
  state: NonNullable<ServiceDetail['updateStatus']>['state'],
  over: Partial<NonNullable<ServiceDetail['updateStatus']>> = {},
): ServiceDetail {
  const kind = state.startsWith('roll') ? 'rollback' : 'update';
  return {
    ...d,
    updateStatus: {
      kind,
      state,
      message: '',
      startedAt: iso(T0),
      failedTasks: 0,
      promoted: false,
      ...over,
    },
  };
}
