// The dashboard's pure parts: token check, token methods on a real store, sessions and cookies, row diffs, actions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { params } from '../../shared/api.js';
import { FakeClock } from '../../shared/clock.js';
import { isFleetError } from '../../shared/errors.js';
import { newDataKey } from '../../shared/sealing.js';
import {
  checkDashboardToken,
  formatDashboardToken,
  hashTokenSecret,
  parseDashboardToken,
  type DashboardTokenRecord,
} from '../../shared/dashboard-token.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { newCluster } from '../../manager/bootstrap/cluster.js';
import { Store } from '../../manager/store/store.js';
import { actionCall, actionSchema } from '../../manager/dashboard/actions.js';
import { RowTracker } from '../../manager/dashboard/diff.js';
import { Feed } from '../../manager/dashboard/feed.js';
import { Sessions } from '../../manager/dashboard/sessions.js';
import { parseTtl } from '../../manager/cli/dashboard.js';
import { UsageError } from '../../manager/cli/usage.js';

const SECRET = 'abcdefghijklmnopqrstuvwxyz012345';
const record = (over: Partial<DashboardTokenRecord> = {}): DashboardTokenRecord => ({
  id: 'tok12345',
  name: 'wall',
  readOnly: true,
  hash: hashTokenSecret(SECRET),
  createdAt: 1,
  expiresAt: 0,
  ...over,
});

test('a token is accepted only with its secret, while it exists and has not expired', () => {
  const text = formatDashboardToken('tok12345', SECRET);
  assert.deepEqual(parseDashboardToken(text), { id: 'tok12345', secret: SECRET });
  const one = (r: DashboardTokenRecord | undefined, t = text, now = 100) =>
    checkDashboardToken(t, (id) => (r && id === r.id ? r : undefined), now);
  assert.deepEqual(one(record()), { tokenId: 'tok12345', name: 'wall', readOnly: true });
  assert.equal(one(record(), formatDashboardToken('tok12345', SECRET.replace('a', 'b'))), null);
  assert.equal(one(undefined), null, 'revoked');
  assert.equal(one(record({ expiresAt: 100 })), null, 'expired');
  assert.ok(one(record({ expiresAt: 101 })));
  for (const bad of ['', 'FLEETDASH', 'FLEETDASH-x-y', `Bearer ${text}`, `${text}\n${text}`])
    assert.equal(one(record(), bad), null, JSON.stringify(bad));
});

async function withStore(fn: (ctx: HandlerContext, store: Store) => void): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-dash-unit-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    store.apply({ commands: [{ type: 'cluster.init', cluster: newCluster(1) }] });
    fn({ store, now: 10_000, managerId: 'm1', dataKey: newDataKey() }, store);
  } finally {
    store.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('minting stores only a hash; names are unique; ls shows no secret; rm revokes by name', () =>
  withStore((ctx, store) => {
    const mint = (p: object) => {
      const r = handlers['dashboard.token.create'](params['dashboard.token.create'].parse(p), ctx);
      store.apply({ commands: r.commands ?? [] });
      return r.result;
    };
    const made = mint({ name: 'ops', ttlMs: 60_000 });
    assert.equal(made.readOnly, false);
    assert.equal(made.expiresAt, 70_000);
    const stored = store.dashboardToken(made.id);
    assert.ok(stored);
    const secret = parseDashboardToken(made.token)?.secret ?? '';
    assert.ok(!JSON.stringify(stored).includes(secret), 'the secret is not stored');
    assert.ok(checkDashboardToken(made.token, (id) => store.dashboardToken(id), 69_999));
    assert.throws(
      () => mint({ name: 'ops' }),
      (e) => isFleetError(e) && e.code === 'already_exists',
    );
    assert.equal(mint({ name: 'wall', readOnly: true, ttlMs: 0 }).expiresAt, 0);
    const ls = handlers['dashboard.token.ls']({}, ctx).result;
    assert.deepEqual(
      ls.map((t) => [t.name, t.readOnly]),
      [
        ['ops', false],
        ['wall', true],
      ],
    );
    assert.ok(!JSON.stringify(ls).includes('hash'));
    const rm = handlers['dashboard.token.rm']({ token: 'ops' }, ctx);
    store.apply({ commands: rm.commands ?? [] });
    assert.equal(store.dashboardToken(made.id), undefined);
    assert.throws(
      () => handlers['dashboard.token.rm']({ token: 'ops' }, ctx),
      (e) => isFleetError(e) && e.code === 'not_found',
    );
    assert.equal(params['dashboard.token.create'].safeParse({ name: 'no spaces' }).success, false);
  }));

test('a session cookie is HttpOnly, Secure and SameSite=Strict, and ends with its token', () => {
  const clock = new FakeClock(1_000);
  const tokens = new Map([['tok12345', record({ expiresAt: 1_000 + 3_600_000 })]]);
  const sessions = new Sessions({ dashboardToken: (id) => tokens.get(id) }, clock);
  assert.equal(sessions.signIn('FLEETDASH-tok12345-wrongwrongwrongwrong'), null);
  const s = sessions.signIn(formatDashboardToken('tok12345', SECRET));
  assert.ok(s);
  assert.match(s.cookie, /^fleet_session=[A-Za-z0-9_-]{40,};/);
  for (const part of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/', 'Max-Age=3600'])
    assert.ok(s.cookie.includes(part), part);
  const req = (cookie?: string) => ({ headers: { cookie } }) as unknown as IncomingMessage;
  const cookie = s.cookie.split(';')[0] ?? '';
  assert.equal(sessions.check(req(cookie))?.readOnly, true);
  assert.equal(sessions.check(req()), null);
  assert.equal(sessions.check(req('fleet_session=guessed')), null);
  clock.advance(3_600_000);
  assert.equal(sessions.check(req(cookie)), null, 'the token expired');
  tokens.set('tok12345', record());
  const again = sessions.signIn(formatDashboardToken('tok12345', SECRET));
  const c2 = again?.cookie.split(';')[0] ?? '';
  assert.ok(sessions.check(req(c2)));
  tokens.delete('tok12345');
  assert.equal(sessions.check(req(c2)), null, 'the token was revoked');
});

test('row diffs carry new and changed rows whole, and the ids of rows gone', () => {
  const t = new RowTracker<{ id: string; v: number }>();
  const a = { id: 'a', v: 1 };
  const b = { id: 'b', v: 1 };
  assert.deepEqual(t.next([a, b]), { put: [a, b], del: [] });
  assert.deepEqual(t.next([a, b]), { put: [], del: [] });
  const b2 = { id: 'b', v: 2 };
  const c = { id: 'c', v: 1 };
  assert.deepEqual(t.next([b2, c]), { put: [b2, c], del: ['a'] });
});

test('actions are checked before they become API calls', () => {
  const scale = actionSchema.parse({ action: 'scale', service: 'web', replicas: 3 });
  assert.deepEqual(actionCall(scale), {
    method: 'service.update',
    params: { service: 'web', replicas: 3 },
  });
  const drain = actionSchema.parse({ action: 'drain', node: 'pi-1' });
  assert.deepEqual(actionCall(drain), {
    method: 'node.update',
    params: { node: 'pi-1', availability: 'drain' },
  });
  for (const bad of [
    { action: 'scale', service: 'web', replicas: -1 },
    { action: 'scale', service: 'web', replicas: 1.5 },
    { action: 'rm', service: 'web' },
    { action: 'drain' },
    null,
  ])
    assert.equal(actionSchema.safeParse(bad).success, false, JSON.stringify(bad));
});

test('token lifetimes read as days, hours or minutes, 0 or never for none; nonsense is a usage error', () => {
  assert.equal(parseTtl('30d'), 30 * 24 * 3_600_000);
  assert.equal(parseTtl('12h'), 12 * 3_600_000);
  assert.equal(parseTtl('0'), 0);
  assert.equal(parseTtl('never'), 0);
  for (const bad of ['', '-1d', '30s', '99999d', 'soon'])
    assert.throws(() => parseTtl(bad), UsageError, JSON.stringify(bad));
});

/** Just enough of a ServerResponse for the feed: collects what is written, closes on end. */
class FakeResponse extends EventEmitter {
  text = '';
  writableLength = 0;
  ended = false;
  writeHead(): this {
    return this;
  }
  write(t: string): boolean {
    this.text += t;
    return true;
  }
  end(): void {
    this.ended = true;
    this.emit('close');
  }
  destroy(): void {
    this.end();
  }
}

test('the feed starts a log follow for its first browser, stops it after the last, and ends revoked streams', () => {
  const clock = new FakeClock(0);
  const feed = new Feed(clock);
  const started: string[] = [];
  const stopped: string[] = [];
  feed.family('logs', (name, publish) => {
    started.push(name);
    publish({ line: `hello from ${name}` });
    return () => stopped.push(name);
  });
  const req = { headers: {} } as unknown as IncomingMessage;
  const attach = (topics: string[], allowed = () => true): FakeResponse => {
    const res = new FakeResponse();
    feed.attach(req, res as unknown as ServerResponse, topics, [], allowed);
    return res;
  };
  const a = attach(['logs/web', 'events']);
  const b = attach(['logs/web']);
  assert.deepEqual(started, ['web'], 'one follow for both browsers');
  assert.match(a.text, /event: logs\/web\ndata: \{"line":"hello from web"\}\n\n/);
  feed.publish('events', [{ at: 1, kind: 'node', subject: 'pi-1', message: 'down' }]);
  assert.match(a.text, /event: events\n/);
  assert.doesNotMatch(b.text, /event: events/, 'only subscribers get a topic');
  a.end();
  assert.deepEqual(stopped, []);
  b.end();
  assert.deepEqual(stopped, ['web'], 'stopped after the last browser left');
  let ok = true;
  const c = attach(['events'], () => ok);
  clock.advance(5_000);
  assert.equal(c.ended, false);
  ok = false;
  clock.advance(5_000);
  assert.equal(c.ended, true, 'a stream whose session ended is closed');
  feed.close();
});
