// Networks and discovery by name: a task's network attachments, its exposed ports, and the discovery table agents serve.
import { z } from 'zod';

/** Cluster network names, as Docker's: a stack's networks are STACK_NAME. */
export const networkNameSchema = z
  .string()
  .regex(
    /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/,
    'network names use letters, digits, "_", "-" and "."',
  );

/** A name a service answers to by DNS on a network (a label of a host name, as RFC 1123). */
export const dnsNameSchema = z
  .string()
  .regex(
    /^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$/,
    'a DNS name uses letters, digits, "-" and "_" (63 at most)',
  );

/**
 * A task's place on a cluster network: the names its service answers to there (for a stack's
 * service: SERVICE and STACK_SERVICE). Tasks of one network reach each other's services by
 * these names on any node; nothing else resolves them.
 */
export const networkAttachmentSchema = z.object({
  name: networkNameSchema,
  aliases: z.array(dnsNameSchema).max(16).default([]),
});
export type NetworkAttachment = z.infer<typeof networkAttachmentSchema>;

/**
 * A port a task answers on for other tasks of its networks without publishing it (Compose's
 * `expose`). Published ports' targets and the image's EXPOSE ports are reachable by name too.
 */
export const exposedPortSchema = z.object({
  port: z.number().int().min(1).max(65535),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
});
export type ExposedPort = z.infer<typeof exposedPortSchema>;

/** A cluster network as stored: each node that runs one of its tasks makes a local bridge for it. */
export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge';
  /** The stack that created it (removed with the stack), absent for `fleet network create`. */
  stack?: string;
  /** No route out of the node: tasks reach only each other (Compose's `internal: true`). */
  internal: boolean;
  /** Services outside the stack may join it with --network (always true for user networks). */
  attachable: boolean;
  labels: Record<string, string>;
  createdAt: number;
}

export const discoveryBackendSchema = z.object({
  taskId: z.string().max(64),
  nodeId: z.string().max(64),
  /** Where the task's port is bound on its node: the node's address and a host port. */
  host: z.string().max(64),
  port: z.number().int().min(1).max(65535),
});
export type DiscoveryBackend = z.infer<typeof discoveryBackendSchema>;

export const discoveryServiceSchema = z.object({
  /** The service's full name (myapp_web). */
  service: z.string().max(64),
  /** Every name it answers to on this network (web, myapp_web). */
  names: z.array(dnsNameSchema).max(17),
  /** Each port a running, healthy task has bound, with the tasks that serve it. */
  ports: z
    .array(
      z.object({
        target: z.number().int().min(1).max(65535),
        protocol: z.enum(['tcp', 'udp']),
        backends: z.array(discoveryBackendSchema).max(10_000),
      }),
    )
    .max(256),
});
export type DiscoveryService = z.infer<typeof discoveryServiceSchema>;

/**
 * The discovery table, retained on `fleet/v1/discovery/table`: for every cluster network, the
 * services attached to it and where their tasks answer. Agents make a bridge per network they
 * run tasks of, answer DNS for its names and forward each name's address to the backends.
 */
export const discoveryTableSchema = z.object({
  v: z.literal(1),
  /** The Raft index it was computed at: only grows, so an agent can ignore an older table. */
  version: z.number().int().min(0),
  networks: z
    .array(
      z.object({
        name: networkNameSchema,
        /** The stack that made it: a node's bridge for it carries the stack's label. */
        stack: z.string().max(64).optional(),
        internal: z.boolean(),
        services: z.array(discoveryServiceSchema).max(1000),
      }),
    )
    .max(1000),
  /**
   * The stacks that exist: an agent removes the volumes and networks it made for a stack that is
   * gone, once no task of its own uses them.
   */
  stacks: z.array(z.string().max(64)).max(10_000),
});
export type DiscoveryTable = z.infer<typeof discoveryTableSchema>;

/** Labels on the Docker objects (containers, networks, volumes) fleet makes for a stack. */
export const STACK_LABEL = 'com.docker.stack.namespace';
