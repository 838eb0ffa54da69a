// Attaches to an assigned task the values of the secrets and configs it uses, secrets sealed to its node.
import type { AssignedTask } from '../../shared/protocol.js';
import { decryptAtRest, sealTo } from '../../shared/sealing.js';
import type { StoreView } from '../store/store.js';

/**
 * Only the tasks of this node are passed in, so a node receives exactly the secrets its own
 * tasks use. A name the store no longer holds is left out: the agent then fails that task
 * with a clear error instead of starting it without the file.
 */
export function withFiles(
  store: StoreView,
  dataKey: Uint8Array,
  nodeBoxPub: string | undefined,
  task: AssignedTask,
): AssignedTask {
  const { secrets: secretRefs, configs: configRefs } = task.template;
  if (secretRefs.length === 0 && configRefs.length === 0) return task;
  const secrets: NonNullable<AssignedTask['secrets']> = [];
  for (const name of new Set(secretRefs.map((r) => r.name))) {
    const rec = store.secretByName(name);
    if (!rec || !nodeBoxPub) continue;
    const value = decryptAtRest(dataKey, rec.encrypted);
    if (!value) continue;
    secrets.push({ name, sealed: sealTo(nodeBoxPub, value) });
    value.fill(0);
  }
  const configs: NonNullable<AssignedTask['configs']> = [];
  for (const name of new Set(configRefs.map((r) => r.name))) {
    const rec = store.configByName(name);
    if (rec) configs.push({ name, data: rec.data });
  }
  return { ...task, secrets, configs };
}
