// Opens the registry credentials a task's assignment carries, sealed to this node; the values are never logged.
import type { AssignedTask } from '../../shared/protocol.js';
import { registryAuthSchema } from '../../shared/registry-auth.js';
import { unseal } from '../../shared/sealing.js';
import type { RegistryAuth } from '../runtime/types.js';

/** The credentials, or undefined when the task has none or they cannot be opened here. */
export function openRegistryAuth(
  task: AssignedTask,
  boxSecretKey: string,
): RegistryAuth | undefined {
  if (task.registryAuth === undefined) return undefined;
  const bytes = unseal(task.registryAuth, boxSecretKey);
  if (!bytes) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  } finally {
    bytes.fill(0);
  }
  const parsed = registryAuthSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
