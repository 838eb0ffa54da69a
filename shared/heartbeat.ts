// The heartbeat an agent sends every period: its sequence and time, and now and then a usage summary in one of two forms.
import { z } from 'zod';
import { compactUsageSchema, expandUsage } from './usage-compact.js';
import { usageSchema } from './usage.js';

/**
 * Decoded, a heartbeat carries its summary as `usage` whichever form it came in: the full one
 * (agents of managers that did not ask for the compact form), or the compact `u`.
 */
export const heartbeatSchema = z
  .object({
    v: z.literal(1),
    seq: z.number().int().min(0),
    ts: z.number(),
    /** Only when the manager asked for summaries (statsMs) and the period has passed. */
    usage: usageSchema.optional(),
    /** The same in the compact form (shared/usage-compact.ts), when the manager asked for it. */
    u: compactUsageSchema.optional(),
  })
  .transform(({ u, ...hb }) => (u && !hb.usage ? { ...hb, usage: expandUsage(u) } : hb));
export type Heartbeat = z.output<typeof heartbeatSchema>;
