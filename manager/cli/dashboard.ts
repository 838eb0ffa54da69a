// `fleet dashboard token [ls|rm]`: mint, list and revoke the tokens that sign in to the web dashboard (and scrape /metrics).
import type { DashboardTokenView } from '../../shared/api.js';
import { parseDuration } from '../../shared/spec.js';
import { commandGroup, defineCommand, listed } from './command.js';
import { withClient, withConnection } from './connection.js';
import { relativeTime, shortId } from './format.js';
import type { Listing } from './format/listing.js';
import { listCommand } from './list-command.js';
import { UsageError } from './usage.js';

const tokenListing: Listing<DashboardTokenView> = {
  columns: [
    { header: 'ID', field: 'ID' },
    { header: 'NAME', field: 'Name' },
    { header: 'ACCESS', field: 'Access' },
    { header: 'CREATED', field: 'CreatedAt' },
    { header: 'EXPIRES', field: 'ExpiresAt' },
  ],
  rows: (items, { noTrunc }) =>
    items.map((t) => ({
      ID: noTrunc ? t.id : shortId(t.id),
      Name: t.name,
      Access: t.readOnly ? 'read-only' : 'full',
      CreatedAt: relativeTime(t.createdAt),
      ExpiresAt: t.expiresAt === 0 ? 'never' : new Date(t.expiresAt).toISOString(),
    })),
  filters: {
    name: (t, v) => t.name.startsWith(v),
    access: (t, v) => (t.readOnly ? 'read-only' : 'full') === v,
  },
};

/** `30d`, `12h`, `90m`…; 0 or `never` for a token that does not expire. */
export function parseTtl(text: string): number {
  const t = text.trim();
  if (t === '0' || t === 'never') return 0;
  const days = /^(\d+)d$/.exec(t);
  const ms = days?.[1] ? Number(days[1]) * 24 * 3_600_000 : parseDuration(t);
  if (ms === null || ms < 60_000 || ms > 10 * 365 * 24 * 3_600_000)
    throw new UsageError(`--ttl must be between 1m and 3650d (or 0 for never), got "${text}"`);
  return ms;
}

const ls = listCommand(
  'List dashboard tokens (never their secrets)',
  (c) => c.call('dashboard.token.ls', {}),
  tokenListing,
);

const rm = defineCommand({
  command: 'rm <token..>',
  aliases: ['remove', 'revoke'],
  describe: 'Revoke dashboard tokens by name or id: their browsers are signed out at once',
  builder: (y) =>
    withConnection(y).positional('token', {
      type: 'string',
      array: true,
      demandOption: true,
      describe: 'token name or id',
    }),
  handler: async (argv) => {
    const names = argv.token.map(String);
    await withClient(argv, async (c) => {
      for (const token of names) await c.call('dashboard.token.rm', { token });
    });
    process.stdout.write(names.map((n) => `${n}\n`).join(''));
  },
});

const token = defineCommand({
  command: 'token',
  describe: 'Mint a dashboard token (printed once; only its hash is kept), or list or revoke them',
  builder: (y) => {
    for (const sub of [listed(ls), listed(rm)]) sub.register(y);
    return withConnection(y)
      .option('name', {
        type: 'string',
        describe: 'who or what the token is for (default: dashboard-<time>)',
      })
      .option('read-only', {
        type: 'boolean',
        default: false,
        describe: 'sees everything, changes nothing (a wall screen)',
      })
      .option('ttl', {
        type: 'string',
        default: '30d',
        describe: 'how long the token works (e.g. 12h, 30d; 0 for never)',
      })
      .example('$0 dashboard token --name wall --read-only --ttl 365d', '')
      .example('$0 dashboard token rm wall', '');
  },
  handler: async (argv) => {
    const ttlMs = parseTtl(argv.ttl);
    const name = argv.name ?? `dashboard-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const made = await withClient(argv, (c) =>
      c.call('dashboard.token.create', { name, readOnly: argv['read-only'], ttlMs }),
    );
    process.stdout.write(`${made.token}\n`);
  },
});

export const dashboardCommand = commandGroup('dashboard', 'Web dashboard access', [listed(token)]);
