// Dashboard sign-in tokens: their text form, the record the store keeps (a hash, never the secret) and the check.
import { createHash, timingSafeEqual } from 'node:crypto';

/** What the replicated store keeps of a token: who it is for and a hash of its secret. */
export interface DashboardTokenRecord {
  id: string;
  name: string;
  /** A read-only token sees everything and changes nothing (a wall screen). */
  readOnly: boolean;
  /** sha256 of the secret part, hex. */
  hash: string;
  createdAt: number;
  /** Milliseconds since the epoch; 0 for a token that never expires. */
  expiresAt: number;
}

/** What a token grants once checked. */
export interface DashboardGrant {
  tokenId: string;
  name: string;
  readOnly: boolean;
}

const PREFIX = 'FLEETDASH';
const TOKEN_RE = /^FLEETDASH-([a-z0-9]{8,40})-([A-Za-z0-9_-]{16,100})$/;

export function formatDashboardToken(id: string, secret: string): string {
  return `${PREFIX}-${id}-${secret}`;
}

export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The id and secret of a token's text, or null when it is not shaped like one. */
export function parseDashboardToken(text: string): { id: string; secret: string } | null {
  const m = TOKEN_RE.exec(text.trim());
  if (!m?.[1] || !m[2]) return null;
  return { id: m[1], secret: m[2] };
}

/**
 * Checks a presented token against the stored records: the id must exist, the secret's hash
 * match (in constant time) and the token not have expired.
 */
export function checkDashboardToken(
  text: string,
  lookup: (id: string) => DashboardTokenRecord | undefined,
  now: number,
): DashboardGrant | null {
  const parsed = parseDashboardToken(text);
  if (!parsed) return null;
  const rec = lookup(parsed.id);
  if (!rec) return null;
  const want = Buffer.from(rec.hash, 'hex');
  const got = Buffer.from(hashTokenSecret(parsed.secret), 'hex');
  if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
  if (rec.expiresAt !== 0 && rec.expiresAt <= now) return null;
  return { tokenId: rec.id, name: rec.name, readOnly: rec.readOnly };
}
