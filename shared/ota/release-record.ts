// A signed agent release as the managers keep it: the manifest, its canonical text and root-key signature, and the bundle's version line.
import { z } from 'zod';
import { signText, verifyText } from '../identity.js';

/** A release version or a minimum Node.js version: MAJOR.MINOR.PATCH with an optional suffix. */
export const VERSION_RE = /^\d{1,6}\.\d{1,6}\.\d{1,6}(?:[-+][0-9A-Za-z.-]{1,64})?$/;
const version = z.string().max(80).regex(VERSION_RE, 'expected a version such as 1.2.3');

/**
 * What a board checks before it installs a release (issue 19): the same field names as the
 * board side's manifest, so the two can become one type. `sha256` is the bundle's hex digest.
 */
export const releaseManifestSchema = z.object({
  version,
  nodeMin: version,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits'),
  size: z.number().int().positive(),
  createdAt: z.number().int().nonnegative(),
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

/**
 * One release in the store: the signed manifest and what the managers know beside it. The
 * manifest is a field of its own because the store's records keep `version` for its own use.
 */
export interface ReleaseRecord {
  /** The record's id (one per version). */
  id: string;
  manifest: ReleaseManifest;
  /** ed25519 signature by the cluster's root key over canonicalManifest(manifest), base64. */
  signature: string;
  /** The protocol the bundle's agent speaks, when its version line says (not signed). */
  protocolVersion?: number;
  /** The manager that took the upload: the first place its blob lives. */
  pushedTo: string;
}

/** The manifest as the signed text: its five fields in sorted key order, no spaces. */
export function canonicalManifest(m: ReleaseManifest): string {
  const fields: ReleaseManifest = {
    createdAt: m.createdAt,
    nodeMin: m.nodeMin,
    sha256: m.sha256,
    size: m.size,
    version: m.version,
  };
  return JSON.stringify(fields);
}

export function signManifest(m: ReleaseManifest, rootSecret: string): string {
  return signText(canonicalManifest(m), rootSecret);
}

/** True when the record's manifest fields are exactly what the root key signed. */
export function verifyManifest(m: ReleaseManifest, signature: string, rootPub: string): boolean {
  return verifyText(canonicalManifest(m), signature, rootPub);
}

/** The blob store's name for a release bundle. */
export const releaseDigest = (m: Pick<ReleaseManifest, 'sha256'>): string => `sha256:${m.sha256}`;

/**
 * The version line bin/bundle-agent.js writes under the bundle's first line:
 * `// fleet-agent 0.1.0 protocol 1`. A push reads it to know what it uploads.
 */
export const BUNDLE_LINE_RE = /^\/\/ fleet-agent (\S+)(?: protocol (\d+))?\r?$/m;
/** Bytes of a bundle's head the version line must lie within. */
export const BUNDLE_HEAD_BYTES = 4096;

export interface BundleLine {
  version: string;
  protocolVersion?: number;
}

/** The version line in the first BUNDLE_HEAD_BYTES of a file, or null when there is none. */
export function readBundleLine(head: Buffer): BundleLine | null {
  const text = head.subarray(0, BUNDLE_HEAD_BYTES).toString('latin1');
  const m = BUNDLE_LINE_RE.exec(text);
  if (!m?.[1] || !VERSION_RE.test(m[1])) return null;
  return { version: m[1], ...(m[2] !== undefined ? { protocolVersion: Number(m[2]) } : {}) };
}

/** Orders versions by their numbers (a suffixed one before the plain release). */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): [number[], string] => {
    const m = /^(\d+)\.(\d+)\.(\d+)(.*)$/.exec(v);
    return m ? [[Number(m[1]), Number(m[2]), Number(m[3])], m[4] ?? ''] : [[0, 0, 0], v];
  };
  const [na, sa] = parts(a);
  const [nb, sb] = parts(b);
  for (let i = 0; i < 3; i++) {
    const d = (na[i] ?? 0) - (nb[i] ?? 0);
    if (d !== 0) return d;
  }
  if (sa === sb) return 0;
  if (sa === '') return 1;
  if (sb === '') return -1;
  return sa < sb ? -1 : 1;
}
