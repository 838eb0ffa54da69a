// The agent-upgrade contract on the wire: the release an assignment asks a node to run, and what its agent reports back.
import { z } from 'zod';
import { VERSION_RE, releaseManifestSchema } from './release-record.js';

/**
 * The contract between the manager and an agent for `fleet node upgrade` (issue 19).
 *
 * Manager → agent: a node's assignment carries `agentRelease` while the manager wants the node to
 * run another agent release than the one it reports. It is the release's signed manifest and the
 * root key's signature over its canonical text (shared/ota/release-record.ts), and the id of the
 * rollout that asks. The agent then:
 * - checks the signature against the cluster's root key and `nodeMin` against its Node.js, and
 *   refuses (reports `failed` with the reason) when either does not hold;
 * - fetches the bundle over the blob channel by `sha256:<sha256>` and checks size and digest;
 * - installs it beside the running agent and switches to it (the board side, agent/ota/), keeping
 *   the previous release to fall back to; it commits only once the new agent is connected;
 * - does nothing when `agentRelease.version` is the version it runs already; stops a download in
 *   progress when `agentRelease` disappears or names another version;
 * - after a fallback, does not try that version again for the same rollout id (a new rollout, or
 *   a rollback and a new upgrade, may ask again).
 *
 * Agent → manager: the status report's `node.upgrade` says where the agent's own upgrade stands,
 * on every status once it has something to say: `downloading` and `switching` with the version,
 * `failed` with the version that failed and the fallback's reason ("exited at start with code 1",
 * "no connection within 60s", "self-check failed: …"), `idle` otherwise. `node.agentVersion` is
 * the version that runs; `node.nodeVersion` the Node.js version it runs on.
 *
 * Every field is optional, so agents and managers that predate them still parse each other.
 */
export const agentReleaseSchema = releaseManifestSchema.extend({
  /** ed25519 signature by the cluster's root key over canonicalManifest(manifest), base64. */
  signature: z.string().max(200),
  /** The rollout that asks for it (manager/upgrader): a failed version is retried per rollout. */
  rollout: z.string().max(64).optional(),
});
export type AgentRelease = z.infer<typeof agentReleaseSchema>;

export const UPGRADE_REPORT_STATES = ['idle', 'downloading', 'switching', 'failed'] as const;

/** Where the agent's own upgrade stands, as it reports it in its status (`node.upgrade`). */
export const upgradeReportSchema = z.object({
  state: z.enum(UPGRADE_REPORT_STATES),
  /** The release being fetched or switched to, or the one that failed. */
  version: z.string().max(80).optional(),
  /** With `failed`: why the board fell back, in words for people. */
  reason: z.string().max(1024).optional(),
  /** When the state began, in the board's milliseconds since the epoch. */
  at: z.number().optional(),
});
export type UpgradeReport = z.infer<typeof upgradeReportSchema>;

/** The Node.js version an agent reports it runs on. */
export const nodeVersionSchema = z.string().max(80).regex(VERSION_RE);
