// Keys, certificates, join tokens and connection credentials: ed25519 signatures and x25519 box keys.
import nacl from 'tweetnacl';
import { systemClock } from './clock.js';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';

export type Role = 'worker' | 'manager' | 'admin';

export interface KeyPair {
  publicKey: string; // base64
  secretKey: string; // base64
}

export interface NodeKeys {
  sign: KeyPair;
  box: KeyPair;
}

export const certBodySchema = z.object({
  v: z.literal(1),
  id: z.string().min(1).max(64),
  role: z.enum(['worker', 'manager', 'admin']),
  signPub: z.string(),
  boxPub: z.string(),
  issuedAt: z.number(),
  expiresAt: z.number(),
  serial: z.string(),
});
export type CertBody = z.infer<typeof certBodySchema>;

export const certificateSchema = z.object({ body: z.string(), sig: z.string() });
/** A certificate: the body as signed JSON text, and the root key's detached signature over it. */
export type Certificate = z.infer<typeof certificateSchema>;

export const identitySchema = z.object({
  v: z.literal(1),
  id: z.string(),
  role: z.enum(['worker', 'manager', 'admin']),
  keys: z.object({
    sign: z.object({ publicKey: z.string(), secretKey: z.string() }),
    box: z.object({ publicKey: z.string(), secretKey: z.string() }),
  }),
  cert: certificateSchema,
  rootPub: z.string(),
  managers: z.array(z.string()).default([]),
});
/** What a node or admin keeps on disk to authenticate itself. */
export type Identity = z.infer<typeof identitySchema>;

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

export function generateNodeKeys(): NodeKeys {
  const s = nacl.sign.keyPair();
  const b = nacl.box.keyPair();
  return {
    sign: { publicKey: b64(s.publicKey), secretKey: b64(s.secretKey) },
    box: { publicKey: b64(b.publicKey), secretKey: b64(b.secretKey) },
  };
}

export function generateSigningKey(): KeyPair {
  const s = nacl.sign.keyPair();
  return { publicKey: b64(s.publicKey), secretKey: b64(s.secretKey) };
}

/** The root key's fingerprint as it appears in join tokens: sha256 of the public key, 32 hex. */
export function fingerprint(publicKeyB64: string): string {
  return createHash('sha256').update(unb64(publicKeyB64)).digest('hex').slice(0, 32);
}

export function randomId(bytes = 12): string {
  return randomBytes(bytes).toString('base64url').replace(/[-_]/g, '').slice(0, 20).toLowerCase();
}

/*
 * Signing and verifying go through node:crypto (OpenSSL), which makes the same deterministic
 * RFC 8032 signatures over the same tweetnacl-format keys about a hundred times faster than
 * tweetnacl's JavaScript: a manager checks two signatures per connection and one per join, so
 * with tweetnacl's ~15 ms a verify, 2,000 boards reconnecting kept it busy for a minute.
 */
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SIGNATURE_BYTES = 64;
const PUBLIC_KEY_BYTES = 32;
const SECRET_KEY_BYTES = 64; // tweetnacl's layout: 32-byte seed, then the public key

/** A few parsed keys are reused constantly (the root key, the node's own); bounded, so never a leak. */
const keyCache = new Map<string, KeyObject>();
function cachedKey(id: string, make: () => KeyObject): KeyObject {
  let k = keyCache.get(id);
  if (!k) {
    if (keyCache.size >= 1024) keyCache.clear();
    k = make();
    keyCache.set(id, k);
  }
  return k;
}

export function signText(text: string, secretKeyB64: string): string {
  const key = cachedKey(`s:${secretKeyB64}`, () => {
    const secret = Buffer.from(secretKeyB64, 'base64');
    if (secret.length !== SECRET_KEY_BYTES) throw new Error('bad secret key size');
    const der = Buffer.concat([PKCS8_ED25519, secret.subarray(0, 32)]);
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  });
  return sign(null, Buffer.from(text), key).toString('base64');
}

export function verifyText(text: string, sigB64: string, publicKeyB64: string): boolean {
  try {
    const sig = Buffer.from(sigB64, 'base64');
    const pub = Buffer.from(publicKeyB64, 'base64');
    if (sig.length !== SIGNATURE_BYTES || pub.length !== PUBLIC_KEY_BYTES) return false;
    const key = cachedKey(`p:${publicKeyB64}`, () =>
      createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub]), format: 'der', type: 'spki' }),
    );
    return verify(null, Buffer.from(text), key, sig);
  } catch {
    return false;
  }
}

export function issueCertificate(body: Omit<CertBody, 'v'>, root: KeyPair): Certificate {
  const text = JSON.stringify({ v: 1, ...body });
  return { body: text, sig: signText(text, root.secretKey) };
}

export type CertCheck = { ok: true; body: CertBody } | { ok: false; reason: string };

export function verifyCertificate(cert: Certificate, rootPub: string, now: number): CertCheck {
  if (!verifyText(cert.body, cert.sig, rootPub))
    return { ok: false, reason: 'bad certificate signature' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(cert.body);
  } catch {
    return { ok: false, reason: 'certificate body is not JSON' };
  }
  const r = certBodySchema.safeParse(parsed);
  if (!r.success) return { ok: false, reason: 'certificate body has the wrong shape' };
  if (r.data.expiresAt < now - CLOCK_SKEW_MS) return { ok: false, reason: 'certificate expired' };
  return { ok: true, body: r.data };
}

/** Boards drift: timestamps within this window either way are accepted. */
export const CLOCK_SKEW_MS = 5 * 60_000;

// ---- join tokens: FLEET-1-<fingerprint>-<secret>

export function makeJoinToken(rootPub: string): string {
  return `FLEET-1-${fingerprint(rootPub)}-${randomBytes(18).toString('hex')}`;
}

export function parseJoinToken(token: string): { fingerprint: string; secret: string } | null {
  const m = /^FLEET-1-([0-9a-f]{32})-([0-9a-f]{36})$/.exec(token.trim());
  if (!m || !m[1] || !m[2]) return null;
  return { fingerprint: m[1], secret: m[2] };
}

// ---- connection credentials: MQTT username = identity id, password = signed proof

export const connectProofSchema = z.object({
  cert: certificateSchema,
  ts: z.number(),
  nonce: z.string().max(64),
  sig: z.string(),
});
export type ConnectProof = z.infer<typeof connectProofSchema>;

const proofText = (clientId: string, ts: number, nonce: string): string =>
  `fleet-connect|${clientId}|${ts}|${nonce}`;

export function makeConnectProof(
  identity: Identity,
  clientId: string,
  now = systemClock.now(),
): string {
  const nonce = randomBytes(12).toString('hex');
  const sig = signText(proofText(clientId, now, nonce), identity.keys.sign.secretKey);
  const proof: ConnectProof = { cert: identity.cert, ts: now, nonce, sig };
  return JSON.stringify(proof);
}

/** A valid proof, with the nonce and time the broker needs to refuse a replay. */
export type ProofCheck =
  { ok: true; body: CertBody; nonce: string; ts: number } | { ok: false; reason: string };

export function verifyConnectProof(
  password: string,
  clientId: string,
  rootPub: string,
  now: number,
): ProofCheck {
  let raw: unknown;
  try {
    raw = JSON.parse(password);
  } catch {
    return { ok: false, reason: 'credentials are not JSON' };
  }
  const p = connectProofSchema.safeParse(raw);
  if (!p.success) return { ok: false, reason: 'credentials have the wrong shape' };
  const cert = verifyCertificate(p.data.cert, rootPub, now);
  if (!cert.ok) return cert;
  if (Math.abs(now - p.data.ts) > CLOCK_SKEW_MS)
    return { ok: false, reason: 'credentials too old' };
  if (!verifyText(proofText(clientId, p.data.ts, p.data.nonce), p.data.sig, cert.body.signPub)) {
    return { ok: false, reason: 'bad proof of key possession' };
  }
  return { ok: true, body: cert.body, nonce: p.data.nonce, ts: p.data.ts };
}

/** Client ids are the identity id, or `<id>.<suffix>` for tools that open several connections. */
export function clientIdBelongsTo(clientId: string, id: string): boolean {
  return clientId === id || clientId.startsWith(id + '.');
}
