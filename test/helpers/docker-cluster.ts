// One manager and Docker agents on loopback addresses for an end-to-end test, torn down after it.
import type { TestContext } from 'node:test';
import {
  cli,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
  type NodeJson,
} from './cluster.js';
import { cleanupContainers, ensureTestImage, requireDocker } from './docker.js';

export interface ClusterNode {
  name: string;
  address: string;
  labels?: readonly string[];
  extraArgs?: readonly string[];
}

export interface DockerCluster {
  manager: ManagerProc;
  agents: AgentProc[];
  nodes: NodeJson[];
}

/**
 * Starts the manager and one Docker agent per node, and waits until all have joined. After the
 * test the services are removed, the processes stopped and the nodes' containers deleted. Null
 * when the test was skipped for want of a Docker engine (never in CI).
 */
export async function startDockerCluster(
  t: TestContext,
  nodes: readonly ClusterNode[],
  services: readonly string[],
): Promise<DockerCluster | null> {
  if (!(await requireDocker(t))) return null;
  await ensureTestImage();
  const procs: { manager?: ManagerProc } = {};
  const agents: AgentProc[] = [];
  const nodeIds: string[] = [];
  t.after(async () => {
    const { manager } = procs;
    if (manager) {
      for (const s of services)
        await cli(manager, ['service', 'rm', s], 10_000).catch(() => undefined);
    }
    for (const a of agents) await stopProc(a.proc);
    if (manager) await stopProc(manager.proc);
    for (const id of nodeIds) await cleanupContainers(id);
  });
  const manager = await startManager();
  procs.manager = manager;
  for (const n of nodes) {
    agents.push(
      startAgent({
        manager: manager.address,
        token: manager.workerToken,
        name: n.name,
        address: n.address,
        runtime: 'docker',
        labels: [...(n.labels ?? [])],
        extraArgs: [...(n.extraArgs ?? [])],
      }),
    );
  }
  const joined = await waitForNodes(manager, nodes.length, 30_000);
  nodeIds.push(...joined.map((n) => n.id));
  return { manager, agents, nodes: joined };
}
