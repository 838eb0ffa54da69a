// The dashboard's HTTP API: sign-in, the live feed, a node's tasks and the actions, each behind its checks.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, isFleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { LocalApi } from '../api/rpc-server.js';
import type { StoreView } from '../store/view.js';
import { actionCall, actionSchema } from './actions.js';
import type { Feed } from './feed.js';
import type { LiveState } from './live.js';
import { taskRows } from './model.js';
import type { Sessions } from './sessions.js';
import type { DashboardSources } from './sources.js';

export interface RouteDeps {
  store: StoreView;
  api: LocalApi;
  sessions: Sessions;
  feed: Feed;
  live: LiveState;
  sources: DashboardSources;
  logger: Logger;
}

/** Events sent to a browser that opens the page, before the new ones. */
const RECENT_EVENTS = 200;
const MAX_BODY_BYTES = 16 * 1024;
/** The header every write must carry: a cross-site form cannot set it (CSRF). */
export const CSRF_HEADER = 'x-fleet-csrf';

/** Answers /api/...; false when the path is not the API's. */
export async function routeApi(
  d: RouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<boolean> {
  const p = url.pathname;
  if (!p.startsWith('/api/')) return false;
  if (p === '/api/session' && req.method === 'POST') {
    if (!sameOrigin(req))
      return (void json(res, 403, { error: 'cross-site request refused' }), true);
    const body = await readJson(req);
    const token = body && typeof body === 'object' && 'token' in body ? body.token : undefined;
    const s = typeof token === 'string' ? d.sessions.signIn(token) : null;
    if (!s) return (void json(res, 401, { error: 'that token is not valid (or expired)' }), true);
    res.setHeader('set-cookie', s.cookie);
    return (void json(res, 200, { name: s.grant.name, readOnly: s.grant.readOnly }), true);
  }
  if (p === '/api/session/end' && req.method === 'POST') {
    res.setHeader('set-cookie', d.sessions.signOut(req));
    return (void json(res, 200, {}), true);
  }
  const grant = d.sessions.check(req);
  if (!grant) return (void json(res, 401, { error: 'sign in first' }), true);
  if (p === '/api/me' && req.method === 'GET') {
    const sources = { events: d.sources.events !== undefined, logs: d.sources.logs !== undefined };
    return (void json(res, 200, { name: grant.name, readOnly: grant.readOnly, sources }), true);
  }
  if (p === '/api/feed' && req.method === 'GET') {
    openFeed(d, req, res, url);
    return true;
  }
  const tasks = /^\/api\/nodes\/([^/]+)\/tasks$/.exec(p);
  if (tasks?.[1] && req.method === 'GET') {
    const id = safeDecode(tasks[1]);
    if (id === null) return (void json(res, 400, { error: 'bad node id' }), true);
    return (void json(res, 200, taskRows(d.store, id)), true);
  }
  if (p === '/api/actions' && req.method === 'POST') {
    if (grant.readOnly)
      return (
        void json(res, 403, { error: 'this token is read-only: it cannot change anything' }),
        true
      );
    if (req.headers[CSRF_HEADER] !== '1' || !sameOrigin(req))
      return (void json(res, 403, { error: 'cross-site request refused' }), true);
    await runAction(d, req, res, grant.name);
    return true;
  }
  json(res, 404, { error: `no such API: ${req.method ?? ''} ${p}` });
  return true;
}

function openFeed(d: RouteDeps, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const asked = (url.searchParams.get('topics') ?? 'state,series')
    .split(',')
    .filter((t) => /^[a-z]+(\/[A-Za-z0-9_.-]{1,128})?$/.test(t))
    .slice(0, 8);
  const first: { topic: string; data: unknown }[] = [];
  if (asked.includes('state')) first.push({ topic: 'snapshot', data: d.live.snapshot() });
  if (asked.includes('events') && d.sources.events)
    first.push({ topic: 'events', data: d.sources.events.recent(RECENT_EVENTS) });
  d.feed.attach(req, res, asked, first, () => d.sessions.check(req) !== null);
}

async function runAction(
  d: RouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  who: string,
): Promise<void> {
  const parsed = actionSchema.safeParse(await readJson(req));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return json(res, 400, {
      error: `bad action: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`,
    });
  }
  const { method, params } = actionCall(parsed.data);
  try {
    await d.api.call(method, params);
    d.logger.info('dashboard action', { by: who, ...parsed.data });
    json(res, 200, { ok: true });
  } catch (e) {
    const status = !isFleetError(e)
      ? 500
      : e.code === 'not_found'
        ? 404
        : e.code === 'invalid_argument'
          ? 400
          : 409;
    json(res, status, { error: errorMessage(e) });
  }
}

/** A browser sends Origin on every POST; it must name this very server. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return origin === `https://${req.headers.host ?? ''}`;
}

/** The body as JSON; undefined when it is not JSON or too large (read to the end regardless, so the answer can be sent). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size <= MAX_BODY_BYTES) chunks.push(c);
  }
  if (size > MAX_BODY_BYTES) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
