// The browser's side of the API: sign-in, the live feed (EventSource with named topics) and actions.
export interface Me {
  name: string;
  readOnly: boolean;
  sources: { events: boolean; logs: boolean };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function send(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers:
      method === 'POST' ? { 'content-type': 'application/json', 'x-fleet-csrf': '1' } : undefined,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new HttpError(res.status, data.error ?? `${res.status} ${res.statusText}`);
  return data;
}

export const api = {
  me: () => send('GET', '/api/me') as Promise<Me>,
  signIn: (token: string) => send('POST', '/api/session', { token }),
  signOut: () => send('POST', '/api/session/end', {}),
  tasks: (nodeId: string) =>
    send('GET', `/api/nodes/${encodeURIComponent(nodeId)}/tasks`) as Promise<TaskRow[]>,
  act: (action: Record<string, unknown>) => send('POST', '/api/actions', action),
};

export type { NodeRow, ServiceRow, SeriesSample, TaskRow } from '../rows.js';
import type { NodeRow, ServiceRow, SeriesSample, TaskRow } from '../rows.js';

export interface RowDiff<T> {
  put: T[];
  del: string[];
}

export interface Snapshot {
  seq: number;
  nodes: NodeRow[];
  services: ServiceRow[];
  series: SeriesSample[];
}

export interface FeedEvent {
  at: number;
  kind: string;
  subject: string;
  message: string;
}

export interface LogLine {
  at: number;
  task: string;
  node: string;
  stream: string;
  line: string;
}

export type FeedHandlers = {
  [topic: string]: (data: unknown) => void;
};

/**
 * Opens the feed of `topics`; EventSource reconnects by itself after a network error and a new
 * snapshot follows. A refusal (the session ended: 401) closes it for good: `onOpen(false, true)`.
 */
export function openFeed(
  topics: string[],
  on: FeedHandlers,
  onOpen: (open: boolean, closed: boolean) => void,
): () => void {
  const es = new EventSource(`/api/feed?topics=${topics.map(encodeURIComponent).join(',')}`);
  for (const [topic, handle] of Object.entries(on)) {
    es.addEventListener(topic, (e) => handle(JSON.parse((e as MessageEvent<string>).data)));
  }
  es.onopen = () => onOpen(true, false);
  es.onerror = () => onOpen(false, es.readyState === EventSource.CLOSED);
  return () => es.close();
}
