// The messages between the upgrade supervisor and the agent it runs, over Node's IPC channel.
import { z } from 'zod';

/** Child → supervisor. */
export const childMessageSchema = z.discriminatedUnion('type', [
  /** Connected to a manager and finished a reconcile pass: the release may be committed. */
  z.object({ type: z.literal('healthy') }),
  /** The agent's own start checks failed: the release must not be committed. */
  z.object({ type: z.literal('self-check-failed'), reason: z.string().max(2000) }),
  /** A release was staged under ota/releases/<version>: switch to it. */
  z.object({ type: z.literal('switch'), version: z.string().max(64) }),
]);
export type ChildMessage = z.infer<typeof childMessageSchema>;

/** Supervisor → child. */
export const supervisorMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('switch-result'),
    version: z.string(),
    ok: z.boolean(),
    reason: z.string().optional(),
  }),
  z.object({ type: z.literal('committed'), version: z.string() }),
]);
export type SupervisorMessage = z.infer<typeof supervisorMessageSchema>;

/** Environment the supervisor gives the agent it runs. */
export const OTA_CHILD_ENV = 'FLEET_OTA_CHILD';
/** The release name the child was started as (a version, or "factory"). */
export const OTA_RELEASE_ENV = 'FLEET_OTA_RELEASE';
/** Set to 1 while the child is on trial (not yet committed). */
export const OTA_TRIAL_ENV = 'FLEET_OTA_TRIAL';
