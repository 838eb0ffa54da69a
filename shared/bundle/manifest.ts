// Offline bundles: the signed manifest's format, its signing text, and the stable ids of the tasks a board runs from it.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { signText } from '../identity.js';
import { clusterPlatformImageSchema } from '../images/cluster-image.js';
import { signedReleaseSchema } from '../ota/release.js';
import { serviceSpecSchema } from '../spec.js';

/**
 * A bundle file is a small header and the signed manifest, then the payload entries one after
 * the other (shared/bundle/container.ts). The manifest lists every entry's size and sha256, so
 * the root key's one signature covers every byte of the file.
 */
export const BUNDLE_FORMAT = 1;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** The agent bundle's entry, and image blobs' entries by digest. */
export const AGENT_ENTRY = 'agent/fleet-agent.mjs';
export const blobEntry = (digest: string): string => `blobs/${digest}`;
const ENTRY_NAME = /^(agent\/fleet-agent\.mjs|blobs\/sha256:[0-9a-f]{64})$/;

export const bundleEntrySchema = z.object({
  name: z.string().regex(ENTRY_NAME, 'must be agent/fleet-agent.mjs or blobs/sha256:<hex>'),
  size: z.number().int().nonnegative(),
  sha256: hex64,
});
export type BundleEntry = z.infer<typeof bundleEntrySchema>;

/** A service as the cluster stored it when the bundle was made: its id, spec and version. */
export const bundledServiceSchema = z.object({
  id: z.string().min(1).max(64),
  specVersion: z.number().int().min(0),
  spec: serviceSpecSchema,
});
export type BundledService = z.infer<typeof bundledServiceSchema>;

export const bundledImageSchema = z.object({
  name: z.string().min(1).max(256),
  platforms: z.array(clusterPlatformImageSchema).min(1).max(16),
});
export type BundledImage = z.infer<typeof bundledImageSchema>;

export const bundleTargetsSchema = z.object({
  /** Node ids or names; the bundle is for these boards (and those the labels pick). */
  nodes: z.array(z.string().min(1).max(128)).max(1000).default([]),
  /** Every label must match; a bundle with neither nodes nor labels is for every board. */
  labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
});
export type BundleTargets = z.infer<typeof bundleTargetsSchema>;

export const bundleManifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  /** Random, names the bundle in reports and logs. */
  id: z.string().regex(/^[a-z0-9]{8,40}$/, 'must be 8-40 lowercase letters and digits'),
  /** The fingerprint of the root key that signed it (shared/identity.ts fingerprint). */
  cluster: z.string().regex(/^[0-9a-f]{32}$/, 'must be a root key fingerprint'),
  /** Only grows from one bundle of a cluster to the next: a board refuses to go back. */
  sequence: z.number().int().positive(),
  createdAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().positive(),
  targets: bundleTargetsSchema,
  /** The agent release to upgrade to, signed on its own like every release. */
  agent: signedReleaseSchema.optional(),
  services: z.array(bundledServiceSchema).max(100),
  images: z.array(bundledImageSchema).max(64),
  entries: z.array(bundleEntrySchema).max(4096),
});
export type BundleManifest = z.infer<typeof bundleManifestSchema>;

export const signedBundleSchema = z.object({
  manifest: bundleManifestSchema,
  sig: z.string().min(1).max(200),
});
export type SignedBundle = z.infer<typeof signedBundleSchema>;

const SIGNING_PREFIX = 'fleet-bundle|v1|';

/**
 * The exact text the root key signs: a prefix no other signed text of the cluster uses (so a
 * release or certificate signature can never pass for a bundle's) and canonical JSON.
 */
export function bundleSigningText(m: BundleManifest): string {
  return SIGNING_PREFIX + canonicalJson(m);
}

export function signBundle(manifest: BundleManifest, rootSecretKeyB64: string): SignedBundle {
  return { manifest, sig: signText(bundleSigningText(manifest), rootSecretKeyB64) };
}

/** JSON with every object's keys sorted, at every depth; undefined members left out. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x ?? null)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const members = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(v);
}

/** One task a board runs for a bundled service: global services one, replicated ones each slot. */
export interface BundleTaskSlot {
  id: string;
  service: BundledService;
  slot: number;
}

/**
 * The tasks of the bundle on one node. Their ids come from the node, the service, its spec
 * version and the slot: the manager that later hears of the bundle computes the same ids and
 * keeps the tasks, and a later bundle with the same spec keeps them running.
 */
export function bundleTasks(m: BundleManifest, nodeId: string): BundleTaskSlot[] {
  const out: BundleTaskSlot[] = [];
  for (const service of m.services) {
    const global = service.spec.mode === 'global' || service.spec.mode === 'global-job';
    const slots = global ? [0] : range(1, service.spec.replicas);
    for (const slot of slots)
      out.push({ id: bundleTaskId(nodeId, service.id, service.specVersion, slot), service, slot });
  }
  return out;
}

export function bundleTaskId(
  nodeId: string,
  serviceId: string,
  specVersion: number,
  slot: number,
): string {
  const h = createHash('sha256').update(
    `fleet-bundle-task|${nodeId}|${serviceId}|${specVersion}|${slot}`,
  );
  return `b${h.digest('hex').slice(0, 23)}`;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
