// The store's content as one JSON document: what a Raft snapshot carries between managers.
import { z } from 'zod';
import type { ClusterRecord, MemberRecord } from './commands.js';
import { KINDS, KIND_NAMES, type KindName, type RecordOf } from './kinds.js';

/** Key order (v, index, cluster, members, the kinds in order, requests) is that of every dump. */
export type StoreDump = {
  v: 1;
  index: number;
  cluster: ClusterRecord | null;
  members: MemberRecord[];
} & { [K in KindName]: RecordOf<K>[] } & {
  requests: { key: string; response: string; appliedIndex: number }[];
};

/**
 * Checks the frame a snapshot must have before anything is replaced; the records themselves were
 * written by a manager of this cluster (the sender is authenticated) and are taken as they are.
 */
export const dumpSchema = z.object({
  v: z.literal(1),
  index: z.number().int().min(0),
  cluster: z.object({ id: z.string(), rootPub: z.string() }).loose().nullable(),
  members: z.array(z.object({ id: z.string(), address: z.string() })),
  // A kind added by a newer version is absent from an older manager's snapshot: empty.
  ...Object.fromEntries(KIND_NAMES.map((k) => [k, z.array(KINDS[k].frame).default([])])),
  requests: z.array(
    z.object({ key: z.string(), response: z.string(), appliedIndex: z.number().int() }),
  ),
});
