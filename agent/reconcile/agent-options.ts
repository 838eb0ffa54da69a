// What an agent is started with: its identity, managers, runtime and the optional parts.
import type { OtaChild } from '../ota/ota-child.js';
import type { Clock } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import type { Logger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import type { Runtime } from '../runtime/types.js';
import type { LinkProfile } from '../../shared/link-profile.js';
import type { OwnLog } from '../logs/own-log.js';
import type { AgentChaos } from '../chaos/agent-chaos.js';

export interface AgentOptions {
  identity: Identity;
  managers: string[];
  dataDir: string;
  advertiseAddr: string;
  /** The node's name, which --hostname templates call {{.Node.Hostname}}. */
  nodeName?: string;
  runtime: Runtime;
  logger: Logger;
  /** Where unsealed secrets are written; by default memory-backed storage found at start. */
  secretsDir?: string;
  /** Plain TCP to a manager started with --insecure. */
  insecure?: boolean;
  /** The link profile this agent announces; its assignment says which one applies. */
  profile?: LinkProfile;
  /** All of the agent's time: passes, heartbeats, retries, renewal; tests give a fake one. */
  clock?: Clock;
  /** In [0, 1): jitter of heartbeats and reconnects, renewal points; tests give a fixed one. */
  random?: () => number;
  /** Refuses a task the node has no memory or disk for (TaskRejectedError), before pull and start. */
  preflight?: { check(task: AssignedTask): Promise<void> };
  /** MQTT client id when it is not the node id (the agent beside a manager). */
  clientId?: string;
  /** Bridges, names and forwarders of cluster networks, fed the discovery table (agent/network). */
  network?: DiscoveryConsumer;
  /** Bytes per second this board downloads cluster images at, at most (0 or absent: no limit). */
  maxBandwidth?: number;
  /** Port of the blob server neighbours fetch image layers from (null: none; default 4885). */
  blobPort?: number | null;
  /** Called after each pass that began while connected to a manager and could list the runtime. */
  onReconciled?: () => void;
  /** The link to the upgrade supervisor: the manager's upgrade orders go through it. */
  ota?: OtaChild;
  /** The agent's own recent log lines, for `fleet node logs`. */
  ownLog?: OwnLog;
  /** Log bytes per second the node sends while someone follows (default 256 KiB). */
  logBudget?: number;
  /** Takes fault orders (agent/chaos); its clock is the agent's then (the `clock` given is beneath). */
  chaos?: AgentChaos;
}

export const DEFAULT_BLOB_PORT = 4885;

/** The network side: started before tasks run, fed each table; removeAll() when workloads go. */
export interface DiscoveryConsumer {
  start(): Promise<void>;
  onTable(payload: Buffer): void;
  close(): Promise<void>;
  removeAll(): Promise<void>;
}
