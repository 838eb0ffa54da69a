// The manager's RPC method for fault orders (`fleet soak`): parameter schema and result, merged into shared/api.ts.
import { z } from 'zod';
import { signedChaosSchema, type ChaosResult } from './chaos.js';

/** How long a manager waits for an agent's answer when the caller does not say. */
export const DEFAULT_CHAOS_WAIT_MS = 10_000;

export const chaosParams = {
  /**
   * Hands a signed fault order to its target: the receiving manager carries out a manager fault
   * aimed at itself, and passes any other order to the agent connected to it, waiting
   * `timeoutMs` for that agent's answer. Not a write: nothing goes through Raft.
   */
  'chaos.send': z.object({
    signed: signedChaosSchema,
    timeoutMs: z.number().int().min(100).max(120_000).default(DEFAULT_CHAOS_WAIT_MS),
  }),
} as const;

/** Methods the manager that receives them answers itself, asynchronously, leader or not. */
export const LOCAL_METHODS = ['chaos.send'] as const;
export type LocalMethod = (typeof LOCAL_METHODS)[number];

export interface ChaosResults {
  'chaos.send': ChaosResult;
}
