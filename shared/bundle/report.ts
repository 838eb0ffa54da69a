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
