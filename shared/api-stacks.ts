// The manager's RPC methods for stacks and networks: parameter schemas and result shapes, merged into shared/api.ts.
import { z } from 'zod';
import { networkNameSchema } from './network.js';
import { registryAuthSchema } from './registry-auth.js';
import { stackPlanSchema, type StackDeployResult } from './stack.js';

const ref = z.string().min(1).max(128);

export const stackParams = {
  /** Creates or updates every object of the plan in one Raft entry: all of it or nothing. */
  'stack.deploy': z.object({
    plan: stackPlanSchema,
    /** Remove services of the stack that left the file. */
    prune: z.boolean().default(false),
    registryAuth: registryAuthSchema.optional(),
  }),
  'stack.ls': z.object({}).default({}),
  'stack.inspect': z.object({ stack: ref }),
  'stack.services': z.object({ stack: ref }),
  'stack.ps': z.object({ stack: ref, all: z.boolean().default(true) }),
  /** Removes the stack's services, then its networks, secrets and configs. */
  'stack.rm': z.object({ stack: ref }),
  'network.create': z.object({
    name: networkNameSchema,
    internal: z.boolean().default(false),
    attachable: z.boolean().default(true),
    labels: z.record(z.string().min(1).max(128), z.string().max(4096)).default({}),
  }),
  'network.ls': z.object({}).default({}),
  'network.inspect': z.object({ network: ref }),
  'network.rm': z.object({ network: ref }),
} as const;

export const STACK_WRITE_METHODS = [
  'stack.deploy',
  'stack.rm',
  'network.create',
  'network.rm',
] as const;

export interface StackView {
  name: string;
  /** How many services the stack has. */
  services: number;
  createdAt: string;
  updatedAt: string;
}

export interface StackDetail extends StackView {
  serviceNames: string[];
  networks: string[];
  secrets: string[];
  configs: string[];
  /** The resolved Compose file of the last deploy. */
  compose: string;
}

export interface NetworkView {
  id: string;
  name: string;
  driver: 'bridge';
  /** Like Swarm's overlay networks: one network across the cluster, a bridge on each node. */
  scope: 'cluster';
  stack: string | null;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  /** Services attached to it. */
  services: string[];
  createdAt: string;
}

/** Results of the stack and network methods; ServiceView and TaskView come from api.ts. */
export interface StackResults<ServiceViewT, TaskViewT> {
  'stack.deploy': StackDeployResult;
  'stack.ls': StackView[];
  'stack.inspect': StackDetail;
  'stack.services': ServiceViewT[];
  'stack.ps': TaskViewT[];
  'stack.rm': { name: string; services: string[] };
  'network.create': NetworkView;
  'network.ls': NetworkView[];
  'network.inspect': NetworkView;
  'network.rm': { id: string };
}
