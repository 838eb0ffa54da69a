// The dashboard's actions (scale, roll back, drain or reactivate a node), checked and turned into API calls.
import { z } from 'zod';
import type { Method } from '../../shared/api.js';

export const actionSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('scale'),
    service: z.string().min(1).max(128),
    replicas: z.number().int().min(0).max(10_000),
  }),
  z.object({ action: z.literal('rollback'), service: z.string().min(1).max(128) }),
  z.object({ action: z.literal('drain'), node: z.string().min(1).max(128) }),
  z.object({ action: z.literal('activate'), node: z.string().min(1).max(128) }),
]);

export type DashboardAction = z.infer<typeof actionSchema>;

/** The API method and parameters that carry out an action. */
export function actionCall(a: DashboardAction): { method: Method; params: unknown } {
  switch (a.action) {
    case 'scale':
      return { method: 'service.update', params: { service: a.service, replicas: a.replicas } };
    case 'rollback':
      return { method: 'service.rollback', params: { service: a.service } };
    case 'drain':
      return { method: 'node.update', params: { node: a.node, availability: 'drain' } };
    case 'activate':
      return { method: 'node.update', params: { node: a.node, availability: 'active' } };
  }
}
