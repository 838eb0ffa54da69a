// The agent that runs beside a manager on the same board: what the manager's command hands it, and how it is stopped.

/**
 * The MQTT client id of the agent beside a manager: the manager's Raft links already connect
 * to the other managers' brokers under the node id itself.
 */
export const workerClientId = (nodeId: string): string => `${nodeId}.agent`;

/** An agent started with a manager's identity, as the same node: it runs that board's tasks. */
export interface WorkerLaunch {
  /** The manager's identity file: the agent is that node, not a second one. */
  identityFile: string;
  /** Where the agent keeps its assignment and task files (under the manager's data dir). */
  dataDir: string;
  /** The manager's own listener first; the agent follows the leader from there. */
  managers: string[];
  /** The board's address: published ports bind here. */
  advertiseAddr: string;
  runtime: 'docker' | 'process';
  insecure: boolean;
  /** Carry out agent fault orders aimed at this node (the manager's --allow-chaos). */
  allowChaos?: boolean;
}

export interface WorkerHandle {
  stop(): Promise<void>;
}

/** Supplied by the command line's composition: manager/ and agent/ never import each other. */
export interface WorkerLauncher {
  /** Null when the runtime answers; otherwise why the manager cannot run tasks on this board. */
  probe(runtime: WorkerLaunch['runtime'], dataDir: string): Promise<string | null>;
  start(launch: WorkerLaunch): Promise<WorkerHandle>;
}
