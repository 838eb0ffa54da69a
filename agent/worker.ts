// The agent beside a manager: started in the manager's process with the manager's identity, so the board is one node.
import { promises as fs } from 'node:fs';
import { readJsonFile } from '../shared/atomic-file.js';
import { identitySchema } from '../shared/identity.js';
import { createLogger } from '../shared/log.js';
import { workerClientId, type WorkerLaunch, type WorkerLauncher } from '../shared/worker.js';
import { Agent } from './reconcile/agent.js';
import { DEFAULT_MIN_FREE_DISK, Preflight, parseDiskReserve } from './reconcile/preflight.js';
import { makeRuntime } from './start.js';
import type { AgentChaos } from './chaos/agent-chaos.js';
import { AgentHost } from './chaos/start-host.js';

export const workerLauncher: WorkerLauncher = {
  async probe(runtime, dataDir) {
    try {
      const rt = await makeRuntime({ runtime, dataDir });
      await rt.info();
      await rt.close();
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  },
  start: startWorker,
};

async function startWorker(launch: WorkerLaunch): Promise<AgentHost> {
  const logger = createLogger('agent');
  await fs.mkdir(launch.dataDir, { recursive: true, mode: 0o700 });
  const parsed = identitySchema.safeParse(await readJsonFile(launch.identityFile));
  if (!parsed.success) throw new Error(`cannot read the manager identity ${launch.identityFile}`);
  const identity = parsed.data;
  // A fault order may stop the agent and start another: each gets a runtime of its own.
  const make = async (chaos: AgentChaos): Promise<Agent> => {
    const runtime = await makeRuntime({ runtime: launch.runtime, dataDir: launch.dataDir });
    const agent = new Agent({
      identity,
      managers: launch.managers,
      dataDir: launch.dataDir,
      advertiseAddr: launch.advertiseAddr,
      runtime,
      logger,
      insecure: launch.insecure,
      clientId: workerClientId(identity.id),
      preflight: new Preflight({
        runtime,
        reserve: parseDiskReserve(DEFAULT_MIN_FREE_DISK) ?? { bytes: 0 },
        logger: logger.child('preflight'),
        fallbackDir: launch.dataDir,
      }),
      chaos,
    });
    await agent.start();
    return agent;
  };
  const host = await AgentHost.start({
    make,
    allow: launch.allowChaos === true,
    identity,
    dataDir: launch.dataDir,
    logger,
  });
  logger.info('agent started beside the manager', { nodeId: identity.id, runtime: launch.runtime });
  return host;
}
