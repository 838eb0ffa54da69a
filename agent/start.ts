// Starting an agent from flags: load or create the identity, pick the runtime, run until stopped.
import type { OtaChild } from './ota/ota-child.js';
import type { LinkProfile } from '../shared/link-profile.js';
import os from 'node:os';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { readJsonFile, writeFileAtomic } from '../shared/atomic-file.js';
import { identitySchema, type Identity } from '../shared/identity.js';
import { createLogger, type LogSink, type Logger } from '../shared/log.js';
import { DockerHostError, resolveDockerHost, type DockerHost } from '../shared/docker-host.js';
import { Agent, type AgentOptions } from './reconcile/agent.js';
import type { AgentChaos } from './chaos/agent-chaos.js';
import { AgentHost, type RunningAgent } from './chaos/start-host.js';
import { saveBoardFacts } from './bundle/state.js';
import { joinCluster } from '../shared/join-client.js';
import {
  DEFAULT_MIN_FREE_DISK,
  Preflight,
  parseDiskReserve,
  type DiskReserve,
} from './reconcile/preflight.js';
import type { NetworkProvider, Runtime } from './runtime/types.js';
import type { NetworkDiscovery } from './network/discovery.js';
import { OwnLog } from './logs/own-log.js';
import type { LogRotation } from './runtime/process/log-book.js';

export interface AgentStartFlags {
  managers: string[];
  token?: string;
  dataDir: string;
  advertiseAddr: string;
  name?: string;
  labels: Record<string, string>;
  runtime: 'docker' | 'process';
  /** Plain TCP to a manager started with --insecure. */
  insecure?: boolean;
  /** The link profile the agent announces (`--profile`); the manager may impose another. */
  profile?: LinkProfile;
  /** Disk space kept free: no task starts (or pulls) when it would leave less. */
  minFreeDisk?: DiskReserve;
  /** Run tasks that use devices, privileges, capabilities or kernel settings. */
  allowDevices?: boolean;
  /** Where network bridges take their /24s (default 10.213.0.0/16). */
  networkPool?: string;
  /** The folder of the board settings file, whose preload/ images are loaded before any task. */
  bootDir?: string;
  /** The Docker engine (--docker-host); without it DOCKER_HOST, else the local socket. */
  dockerHost?: string;
  /** Download limit for cluster images, bytes per second (0: none). */
  maxBandwidth?: number;
  /** Port of the blob server for neighbours; null: none. */
  blobPort?: number | null;
  /** Called after each reconcile pass made while connected (the upgrade supervisor's health signal). */
  onReconciled?: () => void;
  /** The link to the upgrade supervisor (--supervise), for the manager's upgrade orders. */
  ota?: OtaChild;
  /** Log bytes per second sent while someone follows logs (--log-budget). */
  logBudget?: number;
  /** When the process runtime's task logs rotate (--log-max-size, --log-max-files). */
  logRotation?: LogRotation;
  /** Carry out fault orders signed by an admin (--allow-chaos); without it they are refused. */
  allowChaos?: boolean;
  /** The shell command that restarts the container engine (--chaos-engine-restart). */
  chaosEngineRestart?: string;
}

export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

export async function startAgent(flags: AgentStartFlags): Promise<RunningAgent> {
  // The agent's own lines are kept in memory too, for `fleet node logs`.
  const ownLog = new OwnLog();
  const sink = ownLog.tee({ write: (line) => process.stderr.write(line + '\n') });
  const logger = createLogger('agent', { sink });
  const engine = flags.runtime === 'docker' ? dockerHostOf(flags) : undefined;
  await fs.mkdir(flags.dataDir, { recursive: true, mode: 0o700 });
  let runtime: Runtime | null = await makeRuntime(flags, sink);
  const info = await runtime.info().catch((e: unknown) => {
    throw new AgentConfigError(
      `the ${flags.runtime} runtime is not usable: ${e instanceof Error ? e.message : String(e)}`,
    );
  });
  await loadPreloaded(flags, logger, engine);
  const identity = await loadOrJoin(flags, { os: info.os, arch: info.arch });
  // What offline bundles are matched against (agent/bundle/state.ts).
  await saveBoardFacts(flags.dataDir, { name: flags.name ?? os.hostname(), labels: flags.labels });
  const managers = flags.managers.length > 0 ? flags.managers : identity.managers;
  const base = { flags, identity, managers, logger, ownLog };
  // A fault order may stop the agent and start another: each gets a runtime of its own.
  const make = async (chaos: AgentChaos): Promise<Agent> => {
    const rt = runtime ?? (await makeRuntime(flags, sink));
    runtime = null;
    const network = await makeNetworkDiscovery(flags, rt, identity.id, engine);
    const agent = new Agent({ ...agentOptions(base, rt, network), chaos });
    await agent.start();
    return agent;
  };
  const host = await AgentHost.start({
    make,
    allow: flags.allowChaos === true,
    ...(flags.chaosEngineRestart ? { engineRestart: flags.chaosEngineRestart } : {}),
    identity,
    dataDir: flags.dataDir,
    logger,
  });
  logger.info('agent started', {
    nodeId: identity.id,
    runtime: flags.runtime,
    ...(engine ? { engine: engine.display } : {}),
    arch: info.arch,
    managers,
    ...(flags.allowChaos ? { chaos: 'fault orders allowed' } : {}),
  });
  return host;
}

/** The Agent's options from the flags, for one runtime. */
function agentOptions(
  b: {
    flags: AgentStartFlags;
    identity: Identity;
    managers: string[];
    logger: Logger;
    ownLog: OwnLog;
  },
  runtime: Runtime,
  network: NetworkDiscovery | undefined,
): AgentOptions {
  const { flags, logger } = b;
  return {
    identity: b.identity,
    managers: b.managers,
    dataDir: flags.dataDir,
    advertiseAddr: flags.advertiseAddr,
    nodeName: flags.name ?? os.hostname(),
    runtime,
    logger,
    insecure: flags.insecure === true,
    ...(flags.profile ? { profile: flags.profile } : {}),
    ...(network ? { network } : {}),
    ...(flags.maxBandwidth ? { maxBandwidth: flags.maxBandwidth } : {}),
    ...(flags.blobPort !== undefined ? { blobPort: flags.blobPort } : {}),
    ...(flags.onReconciled ? { onReconciled: flags.onReconciled } : {}),
    ...(flags.ota ? { ota: flags.ota } : {}),
    ownLog: b.ownLog,
    ...(flags.logBudget !== undefined ? { logBudget: flags.logBudget } : {}),
    preflight: new Preflight({
      runtime,
      reserve: flags.minFreeDisk ?? parseDiskReserve(DEFAULT_MIN_FREE_DISK) ?? { bytes: 0 },
      logger: logger.child('preflight'),
      fallbackDir: flags.dataDir,
    }),
  };
}

/** The engine the flag or DOCKER_HOST names; a bad value stops the start with the reason. */
export function dockerHostOf(flags: Pick<AgentStartFlags, 'dockerHost'>): DockerHost {
  try {
    return resolveDockerHost(flags.dockerHost);
  } catch (e) {
    if (e instanceof DockerHostError) throw new AgentConfigError(e.message);
    throw e;
  }
}

export async function makeRuntime(
  flags: Pick<
    AgentStartFlags,
    'runtime' | 'dataDir' | 'allowDevices' | 'dockerHost' | 'logRotation'
  >,
  /** Where the runtime's log lines go (the agent's own log); stderr when absent. */
  sink?: LogSink,
): Promise<Runtime> {
  const opts = sink ? { sink } : {};
  if (flags.runtime === 'process') {
    const { ProcessRuntime } = await import('./runtime/process/index.js');
    return new ProcessRuntime({
      dataDir: path.join(flags.dataDir, 'process-runtime'),
      logger: createLogger('process-runtime', opts),
      ...(flags.logRotation ? { logRotation: flags.logRotation } : {}),
    });
  }
  const { DockerRuntime } = await import('./runtime/docker/index.js');
  return new DockerRuntime({
    dockerHost: dockerHostOf(flags),
    logger: createLogger('docker-runtime', opts),
    allowDevices: flags.allowDevices === true,
  });
}

/** The boot partition's preloaded images into the engine, before the first task needs them. */
async function loadPreloaded(
  flags: AgentStartFlags,
  logger: Logger,
  engine: DockerHost | undefined,
): Promise<void> {
  if (flags.bootDir === undefined) return;
  const { PRELOAD_DIR, PRELOAD_INDEX } = await import('../shared/preload-index.js');
  const index = path.join(flags.bootDir, PRELOAD_DIR, PRELOAD_INDEX);
  if (flags.runtime === 'process') {
    const there = await fs.stat(index).then(
      () => true,
      () => false,
    );
    if (there) logger.info('the process runtime ignores preloaded container images', { index });
    return;
  }
  const { loadPreloadedImages } = await import('./runtime/docker/preload.js');
  const { default: Docker } = await import('dockerode');
  await loadPreloadedImages({
    dir: flags.bootDir,
    log: logger.child('preload'),
    docker: new Docker({ ...(engine ?? dockerHostOf(flags)).options }),
  });
}

/** Discovery by name on the Docker runtime: the bridges of cluster networks, their names and forwarders. */
async function makeNetworkDiscovery(
  flags: AgentStartFlags,
  runtime: Runtime,
  nodeId: string,
  engine: DockerHost | undefined,
): Promise<NetworkDiscovery | undefined> {
  const docker = runtime as Runtime & { useNetworks?: (p: NetworkProvider) => void };
  if (runtime.name !== 'docker' || !docker.useNetworks) return undefined;
  const { NetworkDiscovery } = await import('./network/discovery.js');
  let discovery: NetworkDiscovery;
  try {
    discovery = new NetworkDiscovery({
      nodeId,
      dataDir: path.join(flags.dataDir, 'network'),
      logger: createLogger('network'),
      ...(engine ? { dockerHost: engine } : {}),
      ...(flags.networkPool ? { pool: flags.networkPool } : {}),
    });
  } catch (e) {
    throw new AgentConfigError(e instanceof Error ? e.message : String(e));
  }
  docker.useNetworks(discovery);
  return discovery;
}

async function loadOrJoin(
  flags: AgentStartFlags,
  platform: { os: string; arch: string },
): Promise<Identity> {
  const file = path.join(flags.dataDir, 'identity.json');
  const raw = await readJsonFile(file);
  if (raw !== undefined) {
    const parsed = identitySchema.safeParse(raw);
    if (!parsed.success)
      throw new AgentConfigError(
        `the identity file ${file} is damaged; remove the data dir and join again`,
      );
    return parsed.data;
  }
  if (!flags.token)
    throw new AgentConfigError('this agent has not joined yet: pass --token with a join token');
  if (flags.managers.length === 0)
    throw new AgentConfigError('this agent has not joined yet: pass --manager HOST:PORT');
  const identity = await joinCluster({
    managers: flags.managers,
    token: flags.token,
    name: flags.name ?? os.hostname(),
    address: flags.advertiseAddr,
    platform,
    labels: flags.labels,
    insecure: flags.insecure === true,
  });
  await writeFileAtomic(file, JSON.stringify(identity, null, 2) + '\n');
  return identity;
}
