// The manager's RPC method for offline bundles: the manifest signed by the cluster's root key, merged into shared/api.ts.
import { z } from 'zod';
import { bundleEntrySchema, bundledImageSchema, type SignedBundle } from './bundle/manifest.js';
import type { ReleaseResults } from './api-releases.js';
import { VERSION_RE } from './ota/release-record.js';

const ref = z.string().min(1).max(128);
/** A bundle lives a year at most: an old stick in a drawer stops working by itself. */
export const MAX_BUNDLE_LIFETIME_MS = 366 * 86_400_000;

export const bundleParams = {
  /**
   * Builds and signs a bundle's manifest: the services (and the stacks' services) as stored, the
   * agent release named, and the images the CLI read with their blob entries, which it hashed.
   */
  'bundle.sign': z.object({
    services: z.array(ref).max(100).default([]),
    stacks: z.array(ref).max(32).default([]),
    agentVersion: z
      .string()
      .max(80)
      .regex(VERSION_RE, 'expected a version such as 1.2.3')
      .optional(),
    nodes: z.array(ref).max(1000).default([]),
    labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
    expiresInMs: z.number().int().positive().max(MAX_BUNDLE_LIFETIME_MS),
    images: z.array(bundledImageSchema).max(64).default([]),
    entries: z.array(bundleEntrySchema).max(4096).default([]),
  }),
} as const;

/** Bundles carry releases: the release methods' results come along, so shared/api.ts names one. */
export interface BundleResults extends ReleaseResults {
  'bundle.sign': SignedBundle;
}
