// The API's offline-bundle method: builds a bundle's manifest from the store and signs it with the cluster's root key.
import { AGENT_ENTRY, signBundle, type BundleManifest } from '../../shared/bundle/manifest.js';
import { MAX_REPORTED_MANIFEST_BYTES } from '../../shared/bundle/report.js';
import { missingEntries } from '../../shared/bundle/verify.js';
import { FleetError, notFound } from '../../shared/errors.js';
import { fingerprint, randomId } from '../../shared/identity.js';
import type { ServiceRecord } from '../../shared/spec.js';
import type { StoreView } from '../store/store.js';
import type { Handler } from './context.js';
import { findService } from './lookup.js';
import { releaseByVersion } from './release-handlers.js';

export const bundleHandlers: { 'bundle.sign': Handler<'bundle.sign'> } = {
  'bundle.sign': (p, ctx) => {
    const cluster = ctx.store.cluster();
    if (!cluster) throw new FleetError('unavailable', 'cluster is not initialised');
    const services = bundledServices(ctx.store, p.services, p.stacks);
    let agent: BundleManifest['agent'];
    const entries = [...p.entries];
    if (p.agentVersion !== undefined) {
      const release = releaseByVersion(ctx.store, p.agentVersion);
      if (!release) throw notFound(`agent release ${p.agentVersion}`);
      agent = { manifest: release.manifest, sig: release.signature };
      const { sha256, size } = release.manifest;
      entries.unshift({ name: AGENT_ENTRY, sha256, size });
    }
    if (services.length === 0 && !agent && p.images.length === 0)
      throw new FleetError(
        'invalid_argument',
        'a bundle needs a service, a stack, an image or --agent',
      );
    const manifest: BundleManifest = {
      format: 1,
      id: randomId(),
      cluster: fingerprint(cluster.rootPub),
      // The signing manager's clock in ms: later bundles get larger numbers, which boards require.
      sequence: ctx.now,
      createdAt: ctx.now,
      expiresAt: ctx.now + p.expiresInMs,
      targets: { nodes: p.nodes, labels: p.labels },
      ...(agent ? { agent } : {}),
      services: services.map((s) => ({ id: s.id, specVersion: s.specVersion, spec: s.spec })),
      images: p.images,
      entries,
    };
    const problem = missingEntries(manifest);
    if (problem) throw new FleetError('invalid_argument', problem);
    const signed = signBundle(manifest, cluster.rootSecret);
    const size = Buffer.byteLength(JSON.stringify(signed));
    if (size > MAX_REPORTED_MANIFEST_BYTES)
      throw new FleetError(
        'invalid_argument',
        `the bundle's manifest would take ${size} bytes, over ${MAX_REPORTED_MANIFEST_BYTES}: carry fewer images or services per bundle`,
      );
    return { result: signed };
  },
};

/** The services named and those of the stacks named, each once, in the order given. */
function bundledServices(store: StoreView, names: string[], stacks: string[]): ServiceRecord[] {
  const out = new Map<string, ServiceRecord>();
  for (const n of names) {
    const s = findService(store, n);
    out.set(s.id, s);
  }
  for (const name of stacks) {
    const stack = store.stackByName(name);
    if (!stack) throw notFound(`stack ${name}`);
    for (const n of stack.services) {
      const s = store.serviceByName(n);
      if (s) out.set(s.id, s);
    }
  }
  return [...out.values()];
}
