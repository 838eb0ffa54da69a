// The agent beside a manager: started in the manager's process with the manager's identity, so the board is one node.
import { promises as fs } from 'node:fs';
import { readJsonFile } from '../shared/atomic-file.js';
import { identitySchema } from '../shared/identity.js';
import { createLogger } from '../shared/log.js';
import { workerClientId, type WorkerLaunch, type WorkerLauncher } from '../shared/worker.js';
import { Agent } from './reconcile/agent.js';
import { DEFAULT_MIN_FREE_DISK, Preflight, parseDiskReserve } from './reconcile/preflight.js';
import { makeRuntime } from './start.js';

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

async function startWorker(launch: WorkerLaunch): Promise<Agent> {
  const logger = createLogger('agent');
  await fs.mkdir(launch.dataDir, { recursive: true, mode: 0o700 });
  const parsed = identitySchema.safeParse(await readJsonFile(launch.identityFile));
  if (!parsed.success) throw new Error(`cannot read the manager identity ${launch.identityFile}`);
  const runtime = await makeRuntime({ runtime: launch.runtime, dataDir: launch.dataDir });
  const agent = new Agent({
    identity: parsed.data,
    managers: launch.managers,
    dataDir: launch.dataDir,
    advertiseAddr: launch.advertiseAddr,
    runtime,
    logger,
    insecure: launch.insecure,
    clientId: workerClientId(parsed.data.id),
    preflight: new Preflight({
      runtime,
      reserve: parseDiskReserve(DEFAULT_MIN_FREE_DISK) ?? { bytes: 0 },
      logger: logger.child('preflight'),
      fallbackDir: launch.dataDir,
    }),
  });
  await agent.start();
  logger.info('agent started beside the manager', {
    nodeId: parsed.data.id,
    runtime: runtime.name,
  });
  return agent;
}
