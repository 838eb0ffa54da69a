// Reading the cluster for the soak: one sample of nodes, services and tasks, and each manager's own copy of the services.
import { SIM_LABEL } from '../../../shared/sim.js';
import type { RpcClient } from '../rpc-client.js';
import type { ManagerViews, NodeSample, Observation } from './model.js';

export async function observe(
  client: RpcClient,
  t: number,
  services: readonly string[],
): Promise<Observation> {
  try {
    const [nodes, svcs] = await Promise.all([
      client.call('node.ls', {}),
      client.call('service.ls', {}),
    ]);
    const mine = svcs.filter((s) => services.includes(s.name));
    const tasks = (
      await Promise.all(mine.map((s) => client.call('service.ps', { service: s.name, all: false })))
    ).flat();
    const leader = nodes.find((n) => n.manager?.leader)?.id ?? null;
    return {
      t,
      answered: true,
      leader,
      nodes: nodes.map((n): NodeSample => ({
        id: n.id,
        name: n.name,
        role: n.role,
        status: n.status,
        sim: n.labels[SIM_LABEL] === 'true',
        agent: n.agentVersion !== '',
        address: n.address,
        ...(n.manager ? { managerAddress: n.manager.address } : {}),
      })),
      services: mine.map((s) => ({
        name: s.name,
        running: s.replicas.running,
        desired: s.replicas.desired,
      })),
      tasks: tasks.map((x) => ({
        id: x.id,
        service: x.service,
        slot: x.slot,
        node: x.node,
        desiredState: x.desiredState,
        state: x.state,
        restarts: x.restarts,
      })),
    };
  } catch {
    return { t, answered: false, leader: null, nodes: [], services: [], tasks: [] };
  }
}

/** "name:desired:image;…" from every manager; a manager that does not answer in time counts as null. */
export async function managerViews(
  addresses: Record<string, string>,
  port: { read<T>(address: string, fn: (c: RpcClient) => Promise<T>): Promise<T> },
  services: readonly string[],
  t: number,
): Promise<ManagerViews> {
  const views: Record<string, string | null> = {};
  await Promise.all(
    Object.entries(addresses).map(async ([id, address]) => {
      try {
        const list = await port.read(address, (c) => c.call('service.ls', {}));
        views[id] = list
          .filter((s) => services.includes(s.name))
          .map((s) => `${s.name}:${s.replicas.desired}:${s.image}`)
          .sort()
          .join(';');
      } catch {
        views[id] = null;
      }
    }),
  );
  return { t, views };
}
