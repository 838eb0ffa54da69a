// The manager's RPC methods for signed agent releases: parameter schemas and result shapes, merged into shared/api.ts.
import { z } from 'zod';
import { VERSION_RE } from './ota/release-record.js';

const version = z.string().max(80).regex(VERSION_RE, 'expected a version such as 1.2.3');

export const releaseParams = {
  /** Records (and signs) a release whose bundle was uploaded to the manager answering (the leader). */
  'release.create': z.object({
    version,
    nodeMin: version,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits'),
    size: z.number().int().positive(),
    protocolVersion: z.number().int().min(0).max(1_000_000).optional(),
  }),
  'release.ls': z.object({}).default({}),
  /** Refused while a node runs the release, unless forced. */
  'release.rm': z.object({ version: z.string().min(1).max(80), force: z.boolean().default(false) }),
} as const;

export const RELEASE_WRITE_METHODS = ['release.create', 'release.rm'] as const;

export interface ReleaseView {
  id: string;
  version: string;
  nodeMin: string;
  /** The bundle's sha256, 64 hex digits. */
  sha256: string;
  size: number;
  createdAt: string;
  /** The root key's signature over the canonical manifest, base64. */
  signature: string;
  /** The protocol the bundle's agent speaks, when its version line said. */
  protocolVersion: number | null;
  /** Names of the nodes whose agent reports this version. */
  nodes: string[];
  pushedTo: string;
  /** Whether the answering manager holds the bundle. */
  stored: boolean;
}

export interface ReleaseResults {
  /** `created` is false when the same version with the same bytes was already recorded. */
  'release.create': ReleaseView & { created: boolean };
  'release.ls': ReleaseView[];
  'release.rm': { id: string; version: string };
}
