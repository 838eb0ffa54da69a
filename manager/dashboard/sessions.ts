// Dashboard sign-in: a token is exchanged for a session cookie; every request re-checks the token behind it.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../../shared/clock.js';
import {
  checkDashboardToken,
  type DashboardGrant,
  type DashboardTokenRecord,
} from '../../shared/dashboard-token.js';

export const SESSION_COOKIE = 'fleet_session';
/** A browser stays signed in this long at most, and never past its token's end. */
const SESSION_MS = 12 * 3_600_000;
/** Sessions kept at once; the oldest goes first (a sign-in loop cannot fill the memory). */
const MAX_SESSIONS = 2_000;

interface Session {
  tokenId: string;
  until: number;
}

export interface TokenLookup {
  dashboardToken(id: string): DashboardTokenRecord | undefined;
}

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly tokens: TokenLookup,
    private readonly clock: Clock,
  ) {}

  /** A new session for a valid token, with the Set-Cookie value; null for a bad token. */
  signIn(tokenText: string): { grant: DashboardGrant; cookie: string } | null {
    const now = this.clock.now();
    const grant = this.checkToken(tokenText);
    if (!grant) return null;
    const rec = this.tokens.dashboardToken(grant.tokenId);
    const tokenEnd = rec && rec.expiresAt !== 0 ? rec.expiresAt : Infinity;
    const until = Math.min(now + SESSION_MS, tokenEnd);
    const sid = randomBytes(32).toString('base64url');
    if (this.byId.size >= MAX_SESSIONS) {
      const oldest = this.byId.keys().next().value;
      if (oldest !== undefined) this.byId.delete(oldest);
    }
    this.byId.set(sid, { tokenId: grant.tokenId, until });
    const maxAge = Math.max(1, Math.floor((until - now) / 1000));
    return { grant, cookie: cookieHeader(sid, maxAge) };
  }

  /** What the request's session grants: null when there is none, it ended or its token was revoked. */
  check(req: IncomingMessage): DashboardGrant | null {
    const sid = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (!sid) return null;
    const s = this.byId.get(sid);
    if (!s) return null;
    const rec = this.tokens.dashboardToken(s.tokenId);
    const now = this.clock.now();
    if (!rec || s.until <= now || (rec.expiresAt !== 0 && rec.expiresAt <= now)) {
      this.byId.delete(sid);
      return null;
    }
    return { tokenId: rec.id, name: rec.name, readOnly: rec.readOnly };
  }

  signOut(req: IncomingMessage): string {
    const sid = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (sid) this.byId.delete(sid);
    return cookieHeader('', 0);
  }

  /** A token presented directly (`Authorization: Bearer …`, as Prometheus sends it). */
  checkToken(text: string): DashboardGrant | null {
    return checkDashboardToken(text, (id) => this.tokens.dashboardToken(id), this.clock.now());
  }
}

/** The token of an `Authorization: Bearer TOKEN` header, or null. */
export function bearerToken(req: IncomingMessage): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1] ?? null;
}

function cookieHeader(sid: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAgeS}`;
}

function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}
