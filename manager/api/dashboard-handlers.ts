// The API's dashboard token methods: mint a token (only its hash is stored), list tokens, revoke one.
import { randomBytes } from 'node:crypto';
import type { DashboardTokenView } from '../../shared/api.js';
import {
  formatDashboardToken,
  hashTokenSecret,
  type DashboardTokenRecord,
} from '../../shared/dashboard-token.js';
import { alreadyExists, notFound } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import type { StoreView } from '../store/view.js';
import type { Handler } from './context.js';

type DashboardMethods = 'dashboard.token.create' | 'dashboard.token.ls' | 'dashboard.token.rm';

export const dashboardHandlers: { [M in DashboardMethods]: Handler<M> } = {
  'dashboard.token.create': (p, { store, now }) => {
    if (tokenByName(store, p.name)) throw alreadyExists(`dashboard token ${p.name}`);
    const id = randomId();
    const secret = randomBytes(32).toString('base64url');
    const record: DashboardTokenRecord = {
      id,
      name: p.name,
      readOnly: p.readOnly,
      hash: hashTokenSecret(secret),
      createdAt: now,
      expiresAt: p.ttlMs === 0 ? 0 : now + p.ttlMs,
    };
    return {
      result: { ...tokenView(record), token: formatDashboardToken(id, secret) },
      commands: [{ type: 'dashboardToken.put', token: record }],
    };
  },
  'dashboard.token.ls': (_p, { store }) => ({
    result: [...store.dashboardTokens()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(tokenView),
  }),
  'dashboard.token.rm': (p, { store }) => {
    const rec = store.dashboardToken(p.token) ?? tokenByName(store, p.token);
    if (!rec) throw notFound(`dashboard token ${p.token}`);
    return { result: { id: rec.id }, commands: [{ type: 'dashboardToken.remove', id: rec.id }] };
  },
};

function tokenByName(store: StoreView, name: string): DashboardTokenRecord | undefined {
  for (const t of store.dashboardTokens()) if (t.name === name) return t;
  return undefined;
}

function tokenView(r: DashboardTokenRecord): DashboardTokenView {
  return {
    id: r.id,
    name: r.name,
    readOnly: r.readOnly,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
  };
}
