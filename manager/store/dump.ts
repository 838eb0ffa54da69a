// The store's content as one JSON document: what a Raft snapshot carries between managers.
import { z } from 'zod';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';
import type { ClusterRecord, ConfigRecord, MemberRecord, SecretRecord } from './commands.js';

export interface StoreDump {
  v: 1;
  index: number;
  cluster: ClusterRecord | null;
  members: MemberRecord[];
  nodes: NodeRecord[];
  services: ServiceRecord[];
  tasks: TaskRecord[];
  secrets: SecretRecord[];
  configs: ConfigRecord[];
  requests: { key: string; response: string; appliedIndex: number }[];
}

const withId = z.object({ id: z.string() }).loose();

/**
 * Checks the frame a snapshot must have before anything is replaced; the records themselves were
 * written by a manager of this cluster (the sender is authenticated) and are taken as they are.
 */
export const dumpSchema = z.object({
  v: z.literal(1),
  index: z.number().int().min(0),
  cluster: z.object({ id: z.string(), rootPub: z.string() }).loose().nullable(),
  members: z.array(z.object({ id: z.string(), address: z.string() })),
  nodes: z.array(withId),
  services: z.array(
    z.object({ id: z.string(), spec: z.object({ name: z.string() }).loose() }).loose(),
  ),
  tasks: z.array(
    z.object({ id: z.string(), serviceId: z.string(), nodeId: z.string().nullable() }).loose(),
  ),
  secrets: z.array(z.object({ id: z.string(), name: z.string() }).loose()),
  configs: z.array(z.object({ id: z.string(), name: z.string() }).loose()),
  requests: z.array(
    z.object({ key: z.string(), response: z.string(), appliedIndex: z.number().int() }),
  ),
});
