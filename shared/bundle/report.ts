// What an agent tells the managers about the bundle it applied offline, until one of them adopts it.
import { z } from 'zod';
import { signedBundleSchema } from './manifest.js';

/**
 * The signed manifest as the board verified it: the manager checks the signature again, so a
 * board cannot make the cluster adopt services nobody signed. Sent with every full status
 * until an assignment names the bundle in adoptedBundle.
 */
export const bundleReportSchema = z.object({ signed: signedBundleSchema });
export type BundleReport = z.infer<typeof bundleReportSchema>;

/**
 * The signed manifest rides in the agent's status, whose whole payload must stay under the
 * broker's limit (shared/protocol.ts MAX_PAYLOAD_BYTES): managers sign no larger manifest.
 */
export const MAX_REPORTED_MANIFEST_BYTES = 128 * 1024;
