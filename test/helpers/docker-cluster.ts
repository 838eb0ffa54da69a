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
  /** The node's own Docker engine (the agent's --docker-host); the main one when absent. */
  dockerHost?: string;
  extraArgs?: readonly string[];
  /** Added to the agent's environment. */
  env?: NodeJS.ProcessEnv;
}

export interface DockerCluster {
  manager: ManagerProc;
  agents: AgentProc[];
  nodes: NodeJson[];
}

/**
 * Starts the manager (on opts.managerHost, else 127.0.0.1) and one Docker agent per node, and waits until all have joined. After the
 * test the services are removed, the processes stopped and the nodes' containers deleted. Null
 * when the test was skipped for want of a Docker engine (never in CI).
 */
export async function startDockerCluster(
  t: TestContext,
  nodes: readonly ClusterNode[],
  services: readonly string[],
  opts: { managerHost?: string } = {},
): Promise<DockerCluster | null> {
  if (!(await requireDocker(t))) return null;
  await ensureTestImage();
  const procs: { manager?: ManagerProc } = {};
  const agents: AgentProc[] = [];
  const joinedNodes: { id: string; dockerHost?: string }[] = [];
  t.after(async () => {
    const { manager } = procs;
    if (manager) {
      for (const s of services)
        await cli(manager, ['service', 'rm', s], 10_000).catch(() => undefined);
    }
    for (const a of agents) await stopProc(a.proc);
    if (manager) await stopProc(manager.proc);
    for (const n of joinedNodes) await cleanupContainers(n.id, n.dockerHost);
  });
  const manager = await startManager(
    opts.managerHost !== undefined ? { host: opts.managerHost } : {},
  );
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
        ...(n.dockerHost !== undefined ? { dockerHost: n.dockerHost } : {}),
        extraArgs: [...(n.extraArgs ?? [])],
        ...(n.env ? { env: n.env } : {}),
      }),
    );
  }
  const joined = await waitForNodes(manager, nodes.length, 30_000);
  for (const j of joined) {
    const node = nodes.find((n) => n.name === j.name);
    const dockerHost = node?.dockerHost ?? node?.env?.DOCKER_HOST;
    joinedNodes.push({ id: j.id, ...(dockerHost !== undefined ? { dockerHost } : {}) });
  }
  return { manager, agents, nodes: joined };
}
