// The rows the dashboard sends the page: node, service and task rows and plot points (shared with the page's code).

/** One node row: short keys keep a 1,000-node snapshot small. */
export interface NodeRow {
  id: string;
  name: string;
  role: 'manager' | 'worker';
  status: string;
  msg: string;
  avail: string;
  addr: string;
  arch: string;
  ver: string;
  engine: string;
  /** Tasks wanted running here. */
  tasks: number;
  /** CPU in whole percent of all cores and temperature in °C, when the leader holds figures. */
  cpu: number | null;
  temp: number | null;
}

export interface ServiceRow {
  id: string;
  name: string;
  mode: string;
  image: string;
  running: number;
  desired: number;
  /** The last update or rollback: "update completed", "rollback paused: ...". */
  update: string | null;
  /** Tasks of the current spec running, of those wanted, while an update moves. */
  progress: string | null;
}

export interface TaskRow {
  id: string;
  service: string;
  slot: number;
  node: string | null;
  state: string;
  desired: string;
  msg: string;
}

/** A point of the cluster-wide plots. */
export interface SeriesSample {
  t: number;
  running: number;
  pending: number;
  /** Heartbeat lag in ms across ready nodes: the median and the largest. */
  lagP50: number | null;
  lagMax: number | null;
}
