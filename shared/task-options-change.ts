// What `service update` may change beyond image, env, ports and files: the task options, restart policy, reservations, labels and placement.
import { z } from 'zod';
import {
  deviceSchema,
  mountSchema,
  placementPrefSchema,
  taskOptionsShape,
  ulimitSchema,
} from './task-options.js';
import { networkAttachmentSchema } from './network.js';

const names = z.array(z.string().max(4096)).max(64).default([]);
const record = z.record(z.string().min(1).max(128), z.string().max(4096)).default({});

/**
 * Each field absent means "unchanged". Scalars replace the old value; an empty string (hostname,
 * user, workdir, stop signal) or a zero limit removes it. Lists change by -add and -rm.
 */
export const optionsChangeSchema = z.object({
  readOnly: taskOptionsShape.readOnly,
  privileged: taskOptionsShape.privileged,
  tty: taskOptionsShape.tty,
  registryFallback: taskOptionsShape.registryFallback,
  hostname: z.union([z.literal(''), taskOptionsShape.hostname.unwrap()]).optional(),
  user: z.union([z.literal(''), taskOptionsShape.user.unwrap()]).optional(),
  workdir: z.union([z.literal(''), taskOptionsShape.workdir.unwrap()]).optional(),
  stopSignal: z.union([z.literal(''), taskOptionsShape.stopSignal.unwrap()]).optional(),
  limits: taskOptionsShape.limits,
  reservations: z
    .object({
      cpu: z.number().min(0).optional(),
      memoryBytes: z.number().int().min(0).optional(),
    })
    .optional(),
  restart: z
    .object({
      condition: z.enum(['none', 'on-failure', 'any']).optional(),
      delayMs: z.number().int().min(0).optional(),
      maxAttempts: z.number().int().min(0).optional(),
      windowMs: z.number().int().min(0).optional(),
    })
    .optional(),
  maxReplicasPerNode: z.number().int().min(0).optional(),
  /** Mounts to add (one at the same target is replaced) and targets to unmount. */
  mountAdd: z.array(mountSchema).max(64).default([]),
  mountRm: names,
  /** Devices to add and host or container paths to remove. */
  deviceAdd: z.array(deviceSchema).max(64).default([]),
  deviceRm: names,
  capAdd: names,
  capDrop: names,
  groupAdd: names,
  groupRm: names,
  sysctlAdd: record,
  sysctlRm: names,
  ulimitAdd: z.array(ulimitSchema).max(32).default([]),
  ulimitRm: names,
  dnsAdd: names,
  dnsRm: names,
  /** Networks to join (one joined already gets the new aliases) and names to leave. */
  networkAdd: z.array(networkAttachmentSchema).max(16).default([]),
  networkRm: names,
  containerLabelAdd: record,
  containerLabelRm: names,
  labelAdd: record,
  labelRm: names,
  placementPrefAdd: z.array(placementPrefSchema).max(8).default([]),
  placementPrefRm: z.array(placementPrefSchema).max(8).default([]),
});
export type OptionsChange = z.output<typeof optionsChangeSchema>;
export type OptionsChangeInput = z.input<typeof optionsChangeSchema>;
