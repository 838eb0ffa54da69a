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
 * Per service, the digest each (spec version, image) was first resolved to: worked out once per
 * service and round of assignments, not once per task (10,000 tasks of one service made that
 * 10,000² record reads).
 */
export type PinMemo = Map<string, Map<string, TaskRecord>>;

/**
 * The digest the first task of this spec version resolved the tag to: later tasks of the version
 * (other slots, restarts, other boards) run that content, so a push during a rollout cannot mix
 * two images in one version. A new version (update, --force) resolves the tag again.
 */
export function pinOf(
  store: StoreView,
  t: TaskRecord,
  memo: PinMemo = new Map(),
): { pinnedDigest?: string } {
  if (isDigestReference(t.template.image)) return {};
  let firsts = memo.get(t.serviceId);
  if (!firsts) {
    firsts = new Map();
    for (const o of store.tasksOfService(t.serviceId)) {
      if (!o.status.digest) continue;
      const key = `${o.specVersion}|${o.template.image}`;
      const first = firsts.get(key);
      if (
        !first ||
        o.createdAt < first.createdAt ||
        (o.createdAt === first.createdAt && o.id < first.id)
      )
        firsts.set(key, o);
    }
    memo.set(t.serviceId, firsts);
  }
  const digest = firsts.get(`${t.specVersion}|${t.template.image}`)?.status.digest;
  return digest ? { pinnedDigest: digest } : {};
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
