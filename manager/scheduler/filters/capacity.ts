// Filters on what a node already runs: reservations, host ports and replicas per node.
import type { Filter } from './types.js';

export const resourcesFilter: Filter = {
  name: 'resources',
  check: ({ node, task, load }) => {
    // The engine refuses a CPU limit above the node's CPU count, so such a node cannot run it.
    const cpuLimit = task.template.limits?.cpu ?? 0;
    if (cpuLimit > 0 && node.resources.cpus > 0 && cpuLimit > node.resources.cpus + 1e-9)
      return "have fewer CPUs than the task's CPU limit";
    const want = task.template.resources;
    if (want.cpu <= 0 && want.memoryBytes <= 0) return null;
    let cpu = 0;
    let mem = 0;
    for (const t of load.tasks) {
      cpu += t.template.resources.cpu;
      mem += t.template.resources.memoryBytes;
    }
    if (want.cpu > 0 && cpu + want.cpu > node.resources.cpus + 1e-9) return 'lack free CPU';
    if (want.memoryBytes > 0 && mem + want.memoryBytes > node.resources.memoryBytes) {
      return 'lack free memory';
    }
    return null;
  },
};

export const hostPortFilter: Filter = {
  name: 'host-ports',
  check: ({ task, load }) => {
    const wanted = task.template.ports.filter(
      (p) => p.mode === 'host' && p.published !== undefined,
    );
    if (wanted.length === 0) return null;
    const used = new Set<string>();
    for (const t of load.tasks) {
      for (const p of t.template.ports) {
        if (p.mode === 'host' && p.published !== undefined)
          used.add(`${p.published}/${p.protocol}`);
      }
    }
    for (const p of wanted) {
      const key = `${p.published}/${p.protocol}`;
      if (used.has(key)) return `have host port ${key} in use`;
    }
    return null;
  },
};

export const maxPerNodeFilter: Filter = {
  name: 'max-replicas-per-node',
  check: ({ task, service, load }) => {
    const max = service?.spec.maxReplicasPerNode ?? 0;
    if (max <= 0) return null;
    const mine = load.tasks.filter((t) => t.serviceId === task.serviceId).length;
    return mine >= max ? `already run ${max} replicas of ${task.serviceName}` : null;
  },
};
