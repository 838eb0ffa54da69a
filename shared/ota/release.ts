// Signed agent releases: the manifest format, its signature by the cluster's root key, version order.
import { z } from 'zod';
import { signText, verifyText } from '../identity.js';

/**
 * How to use it. The manager builds a manifest for a bundle (`fleet-agent.mjs`) and signs it
 * with the root key: `signRelease(manifest, root.secretKey)`. A board checks what it receives
 * with `verifyRelease(signed, identity.rootPub)` and then checks the bundle's bytes against
 * `manifest.sha256` and `manifest.size` (agent/ota/stage.ts does both). The signature covers
 * a canonical JSON text of the manifest (sorted keys) behind a fixed prefix, so the same root
 * key's certificate signatures can never be replayed as a release and the other way round.
 */

export const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-.]+)?$/;

export const semverSchema = z.string().max(64).regex(SEMVER, 'must be a semantic version (1.2.3)');

export const releaseManifestSchema = z.object({
  /** The agent's version, semver: what `fleet-agent.mjs --version` prints. */
  version: semverSchema,
  /** The oldest Node.js the bundle runs on (semver, without the leading v). */
  nodeMin: semverSchema,
  /** sha256 of fleet-agent.mjs, lowercase hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  /** Size of fleet-agent.mjs in bytes. */
  size: z.number().int().positive(),
  /** When the release was made (ms since the epoch); informational. */
  createdAt: z.number().int().nonnegative(),
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

/** A manifest and the root key's detached ed25519 signature over releaseSigningText(manifest). */
export const signedReleaseSchema = z.object({
  manifest: releaseManifestSchema,
  sig: z.string().min(1).max(200),
});
export type SignedRelease = z.infer<typeof signedReleaseSchema>;

/** The file name of the bundle inside a release, and of its signed manifest beside it. */
export const RELEASE_BUNDLE = 'fleet-agent.mjs';
export const RELEASE_MANIFEST = 'release.json';

const SIGNING_PREFIX = 'fleet-release|v1|';

/** The exact text the root key signs: a fixed prefix and the manifest's JSON with sorted keys. */
export function releaseSigningText(m: ReleaseManifest): string {
  const sorted = Object.fromEntries(
    Object.entries(releaseManifestSchema.parse(m)).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return SIGNING_PREFIX + JSON.stringify(sorted);
}

export function signRelease(manifest: ReleaseManifest, rootSecretKeyB64: string): SignedRelease {
  return { manifest, sig: signText(releaseSigningText(manifest), rootSecretKeyB64) };
}

export type ReleaseCheck = { ok: true; manifest: ReleaseManifest } | { ok: false; reason: string };

/** Checks the shape of an untrusted value and the root key's signature over its manifest. */
export function verifyRelease(raw: unknown, rootPubB64: string): ReleaseCheck {
  const r = signedReleaseSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue ? `${issue.path.join('.') || 'release'}: ${issue.message}` : 'bad shape';
    return { ok: false, reason: `the release manifest is malformed (${where})` };
  }
  if (!verifyText(releaseSigningText(r.data.manifest), r.data.sig, rootPubB64))
    return { ok: false, reason: "the release's signature does not match the cluster's root key" };
  return { ok: true, manifest: r.data.manifest };
}

/**
 * Semver precedence (semver.org §11): -1, 0 or 1. Build metadata is ignored; a pre-release
 * sorts before its release; numeric identifiers compare as numbers and before alphanumeric ones.
 * Throws on a string that is not a version (validate with semverSchema first).
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = Math.sign((pa.core[i] ?? 0) - (pb.core[i] ?? 0));
    if (d !== 0) return d as -1 | 1;
  }
  if (pa.pre.length === 0 || pb.pre.length === 0)
    return pa.pre.length === pb.pre.length ? 0 : pa.pre.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(pa.pre.length, pb.pre.length); i++) {
    const x = pa.pre[i];
    const y = pb.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const d = comparePreIdentifier(x, y);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether a Node.js version string (process.version, "v20.11.1") is at least nodeMin. */
export function nodeSatisfies(nodeMin: string, nodeVersion: string): boolean {
  const running = nodeVersion.replace(/^v/, '');
  if (!SEMVER.test(running)) return false;
  return compareVersions(running, nodeMin) >= 0;
}

function parseVersion(v: string): { core: number[]; pre: string[] } {
  const m = SEMVER.exec(v);
  if (!m) throw new Error(`not a semantic version: "${v}"`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

function comparePreIdentifier(x: string, y: string): -1 | 0 | 1 {
  const nx = /^\d+$/.test(x);
  const ny = /^\d+$/.test(y);
  if (nx && ny) return Math.sign(Number(x) - Number(y)) as -1 | 0 | 1;
  if (nx !== ny) return nx ? -1 : 1;
  return x === y ? 0 : x < y ? -1 : 1;
}
