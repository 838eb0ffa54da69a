// Stacks: the plan a Compose file resolves to (services, networks, secrets, configs) and what the manager keeps of it.
import { z } from 'zod';
import { networkNameSchema } from './network.js';
import { MAX_SECRET_BYTES } from './sealing.js';
import { objectNameSchema, serviceSpecSchema } from './spec.js';

/** Stack names become prefixes of service, network and secret names: STACK_web. */
export const stackNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,31}$/,
    'stack names use lower-case letters, digits, "_" and "-" (32 at most)',
  );

const labels = z.record(z.string().min(1).max(128), z.string().max(4096)).default({});

export const stackNetworkSchema = z.object({
  /** The cluster network's full name: STACK_NET for the stack's own, the name itself if external. */
  name: networkNameSchema,
  /** An existing network the stack joins; deploy fails when it does not exist. */
  external: z.boolean().default(false),
  internal: z.boolean().default(false),
  attachable: z.boolean().default(false),
  labels,
});
export type StackNetwork = z.infer<typeof stackNetworkSchema>;

/** A secret or config of a stack: created from a file's content, or an existing one by name. */
export const stackFileSchema = z.object({
  name: objectNameSchema,
  external: z.boolean().default(false),
  /** Base64 content read from `file:` (absent when external). */
  data: z
    .string()
    .max(Math.ceil(MAX_SECRET_BYTES / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'data must be base64')
    .optional(),
  labels,
});
export type StackFile = z.infer<typeof stackFileSchema>;

/** Everything one `stack deploy` asks for, resolved from the Compose files by the CLI. */
export const stackPlanSchema = z.object({
  name: stackNameSchema,
  /** Full specs, names STACK_SERVICE, labelled STACK_LABEL=STACK. */
  services: z.array(serviceSpecSchema).max(500),
  networks: z.array(stackNetworkSchema).max(100).default([]),
  secrets: z.array(stackFileSchema).max(200).default([]),
  configs: z.array(stackFileSchema).max(200).default([]),
  /** The resolved, interpolated Compose file (YAML) the plan came from, kept for inspection. */
  compose: z
    .string()
    .max(1024 * 1024)
    .default(''),
});
export type StackPlan = z.infer<typeof stackPlanSchema>;
export type StackPlanInput = z.input<typeof stackPlanSchema>;

/** A stack as stored: what it created, so a redeploy knows what changed and `stack rm` what to remove. */
export interface StackRecord {
  id: string;
  name: string;
  /** Full service names, as in the last deploy. */
  services: string[];
  /** Networks, secrets and configs the stack created (external ones are not listed). */
  networks: string[];
  secrets: string[];
  configs: string[];
  compose: string;
  createdAt: number;
  updatedAt: number;
  /** Raft index of the last write (set by the store). */
  version?: number;
}

/** What a deploy did to each service of the stack. */
export interface StackDeployResult {
  stack: string;
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  /** Services of the stack that left the file but were kept (no --prune). */
  kept: string[];
  networksCreated: string[];
  secretsCreated: string[];
  configsCreated: string[];
}
