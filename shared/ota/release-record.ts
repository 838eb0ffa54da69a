// A signed agent release as the managers keep it: the manifest, its canonical text and root-key signature, and the bundle's version line.
import {
  SEMVER,
  releaseManifestSchema,
  releaseSigningText,
  signRelease,
  verifyRelease,
  type ReleaseManifest,
} from './release.js';

/** A release version or a minimum Node.js version: a semantic version (shared/ota/release.ts). */
export const VERSION_RE = SEMVER;

export { releaseManifestSchema, type ReleaseManifest };

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

/** The text the root key signs for a manifest: the board checks the same (shared/ota/release.ts). */
export const canonicalManifest = (m: ReleaseManifest): string => releaseSigningText(m);

export function signManifest(m: ReleaseManifest, rootSecret: string): string {
  return signRelease(m, rootSecret).sig;
}

/** True when the record's manifest fields are exactly what the root key signed. */
export function verifyManifest(m: ReleaseManifest, signature: string, rootPub: string): boolean {
  return verifyRelease({ manifest: m, sig: signature }, rootPub).ok;
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
