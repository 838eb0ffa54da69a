// Attaches to an assigned task what its node needs besides the template: secrets, configs, registry credentials, pinned digest.
import { isDigestReference } from '../../shared/image-ref.js';
import type { AssignedTask } from '../../shared/protocol.js';
import type { TaskRecord } from '../../shared/spec.js';
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

/**
 * The digest the first task of this spec version resolved the tag to: later tasks of the version
 * (other slots, restarts, other boards) run that content, so a push during a rollout cannot mix
 * two images in one version. A new version (update, --force) resolves the tag again.
 */
export function pinOf(store: StoreView, t: TaskRecord): { pinnedDigest?: string } {
  if (isDigestReference(t.template.image)) return {};
  let first: TaskRecord | undefined;
  for (const o of store.tasksOfService(t.serviceId)) {
    if (o.specVersion !== t.specVersion || !o.status.digest) continue;
    if (o.template.image !== t.template.image) continue;
    if (
      !first ||
      o.createdAt < first.createdAt ||
      (o.createdAt === first.createdAt && o.id < first.id)
    )
      first = o;
  }
  return first?.status.digest ? { pinnedDigest: first.status.digest } : {};
}

/** The service's registry credentials, opened from rest and sealed to this node's box key. */
export function withRegistryAuth(
  store: StoreView,
  dataKey: Uint8Array,
  nodeBoxPub: string | undefined,
  task: AssignedTask,
): AssignedTask {
  const kept = store.service(task.serviceId)?.registryAuth;
  if (!kept || !nodeBoxPub) return task;
  const value = decryptAtRest(dataKey, kept);
  if (!value) return task;
  const sealed = sealTo(nodeBoxPub, value);
  value.fill(0);
  return { ...task, registryAuth: sealed };
}
