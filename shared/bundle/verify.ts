// Decides whether a board takes a bundle: shape, cluster, signature, expiry, target and downgrade, each refusal with its reason.
import { fingerprint, verifyText } from '../identity.js';
import {
  AGENT_ENTRY,
  blobEntry,
  bundleSigningText,
  signedBundleSchema,
  type BundleManifest,
  type BundleTargets,
  type SignedBundle,
} from './manifest.js';
import { MAX_REPORTED_MANIFEST_BYTES } from './report.js';

/** What the board knows about itself when it checks a bundle. */
export interface BoardFacts {
  /** The root key the board trusts (identity.rootPub). */
  rootPub: string;
  nodeId: string;
  /** The node's name and labels, when known (the agent records them at start). */
  nodeName?: string;
  labels: Record<string, string>;
  /** The board's clock, ms since the epoch. */
  now: number;
  /** The newest bundle applied on this board. */
  applied?: { id: string; sequence: number };
}

export type BundleCheck =
  { ok: true; manifest: BundleManifest; signed: SignedBundle } | { ok: false; reason: string };

/** The checks that need only the manifest; the entries' bytes are checked while they are copied. */
export function checkBundle(raw: unknown, board: BoardFacts): BundleCheck {
  const refuse = (reason: string): BundleCheck => ({ ok: false, reason });
  const r = signedBundleSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue ? `${issue.path.join('.') || 'bundle'}: ${issue.message}` : 'bad shape';
    return refuse(`the bundle's manifest is malformed (${where})`);
  }
  const m = r.data.manifest;
  const size = Buffer.byteLength(JSON.stringify(r.data));
  if (size > MAX_REPORTED_MANIFEST_BYTES)
    return refuse(
      `its manifest has ${size} bytes, over the ${MAX_REPORTED_MANIFEST_BYTES} a board reports`,
    );
  const mine = fingerprint(board.rootPub);
  if (m.cluster !== mine)
    return refuse(`signed by cluster ${m.cluster}, this board belongs to cluster ${mine}`);
  if (!verifyText(bundleSigningText(m), r.data.sig, board.rootPub))
    return refuse("its signature does not match the cluster's root key (the manifest was changed)");
  const missing = missingEntries(m);
  if (missing) return refuse(missing);
  if (board.now >= m.expiresAt)
    return refuse(
      `expired at ${new Date(m.expiresAt).toISOString()} (this board's clock says ${new Date(board.now).toISOString()})`,
    );
  if (!targetsBoard(m.targets, board))
    return refuse(`meant for ${describeTargets(m.targets)}, this board is ${describeBoard(board)}`);
  const applied = board.applied;
  if (applied && m.id === applied.id) return refuse(`bundle ${m.sequence} is already applied`);
  if (applied && m.sequence <= applied.sequence)
    return refuse(
      `bundle ${m.sequence} is older than the bundle ${applied.sequence} already applied`,
    );
  return { ok: true, manifest: m, signed: r.data };
}

/** Whether the targets pick this board: its id or name listed, or every label matching. */
export function targetsBoard(t: BundleTargets, board: BoardFacts): boolean {
  const labels = Object.entries(t.labels);
  if (t.nodes.length === 0 && labels.length === 0) return true;
  if (t.nodes.includes(board.nodeId)) return true;
  if (board.nodeName !== undefined && t.nodes.includes(board.nodeName)) return true;
  return labels.length > 0 && labels.every(([k, v]) => board.labels[k] === v);
}

export function describeTargets(t: BundleTargets): string {
  const parts: string[] = [];
  if (t.nodes.length > 0) parts.push(`nodes ${t.nodes.join(', ')}`);
  const labels = Object.entries(t.labels).map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) parts.push(`labels ${labels.join(', ')}`);
  return parts.length > 0 ? parts.join(' or ') : 'every board';
}

function describeBoard(b: BoardFacts): string {
  const name = b.nodeName !== undefined ? ` (${b.nodeName})` : '';
  const labels = Object.entries(b.labels).map(([k, v]) => `${k}=${v}`);
  return `${b.nodeId}${name} with ${labels.length > 0 ? `labels ${labels.join(', ')}` : 'no labels'}`;
}

/** Every blob an image names and the agent release need an entry, with the size they say. */
export function missingEntries(m: BundleManifest): string | null {
  const entries = new Map(m.entries.map((e) => [e.name, e]));
  if (entries.size !== m.entries.length) return 'the manifest lists an entry twice';
  if (m.agent) {
    const e = entries.get(AGENT_ENTRY);
    if (!e || e.sha256 !== m.agent.manifest.sha256 || e.size !== m.agent.manifest.size)
      return `the agent release ${m.agent.manifest.version} has no matching ${AGENT_ENTRY} entry`;
  }
  for (const image of m.images)
    for (const p of image.platforms)
      for (const b of [
        { digest: p.configDigest, size: p.configSize },
        ...p.layers.map((l) => ({ digest: l.digest, size: l.size })),
      ]) {
        const e = entries.get(blobEntry(b.digest));
        if (!e || `sha256:${e.sha256}` !== b.digest || e.size !== b.size)
          return `image ${image.name} needs the blob ${b.digest}, which the bundle does not hold`;
      }
  return null;
}
