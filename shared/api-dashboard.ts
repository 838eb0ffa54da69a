// The manager's RPC methods for dashboard tokens (`fleet dashboard token`): parameter schemas and results, merged into shared/api.ts.
import { z } from 'zod';

/** Up to ten years: a wall screen's token may be meant to last. */
const MAX_TTL_MS = 10 * 365 * 24 * 3_600_000;

export const dashParams = {
  /** Mints a token; only its hash is stored, the text is in the answer and nowhere else. */
  'dashboard.token.create': z.object({
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only'),
    readOnly: z.boolean().default(false),
    /** 0: never expires. */
    ttlMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_TTL_MS)
      .default(30 * 24 * 3_600_000),
  }),
  'dashboard.token.ls': z.object({}).default({}),
  /** Revokes a token by name or id. */
  'dashboard.token.rm': z.object({ token: z.string().min(1).max(128) }),
} as const;

export const DASH_WRITE_METHODS = ['dashboard.token.create', 'dashboard.token.rm'] as const;

/** A token as listed: never its secret. */
export interface DashboardTokenView {
  id: string;
  name: string;
  readOnly: boolean;
  createdAt: number;
  expiresAt: number;
}

export interface DashResults {
  'dashboard.token.create': DashboardTokenView & { token: string };
  'dashboard.token.ls': DashboardTokenView[];
  'dashboard.token.rm': { id: string };
}
