// What the dashboard can be given besides the store: an event feed and log streams, each optional.
/** One event record as the events panel shows it. */
export interface DashboardEvent {
  /** Milliseconds since the epoch. */
  at: number;
  /** What it is about: node, service, task, cluster… */
  kind: string;
  /** The object's name or id. */
  subject: string;
  message: string;
}

/** One line of a task's output. */
export interface DashboardLogLine {
  at: number;
  task: string;
  node: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface DashboardEventSource {
  /** The newest records, oldest first, at most `limit`. */
  recent(limit: number): DashboardEvent[];
  /** Calls `on` for each new record; returns the unsubscribe. */
  subscribe(on: (e: DashboardEvent) => void): () => void;
}

export interface DashboardLogSource {
  /**
   * Follows a service's output from now on; returns the stop. An error (unknown service, no
   * node reachable) goes to `onError` once and the follow ends.
   */
  follow(
    service: string,
    on: (line: DashboardLogLine) => void,
    onError: (message: string) => void,
  ): () => void;
}

/**
 * The optional parts. A panel whose source is absent says "not available"; attaching one later
 * is a matter of passing it here (manager/dashboard/start.ts).
 */
export interface DashboardSources {
  events?: DashboardEventSource;
  logs?: DashboardLogSource;
}
