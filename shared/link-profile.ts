// Link profiles: what an idle node sends to the manager, and how soon its silence means down.
import { z } from 'zod';

/**
 * `default` beats every cluster heartbeat (2 s) and is found down after three missed beats;
 * `metered` is for boards on paid-per-byte links: no heartbeat messages at all, the MQTT
 * keepalive (a 2-byte PINGREQ every keepalive period) is the only sign of life, and the broker
 * drops a silent client after 1.5 keepalive periods, which is how the manager finds it down.
 * Measured by test/bench/idle-traffic.ts (issue 21, item 6).
 */
export const LINK_PROFILES = ['default', 'metered'] as const;
export const linkProfileSchema = z.enum(LINK_PROFILES);
export type LinkProfile = z.infer<typeof linkProfileSchema>;

/** The MQTT keepalive of the default profile; heartbeats decide its health. */
export const DEFAULT_KEEPALIVE_S = 5;
/** The MQTT keepalive of a metered node unless its manager says otherwise (--metered-keepalive). */
export const METERED_KEEPALIVE_S = 20 * 60;
/** MQTT 3.1.1 keepalive is a 16-bit count of seconds. */
export const MAX_KEEPALIVE_S = 65_535;
/** A default node is down after this many heartbeat periods of silence. */
export const MISSED_BEATS = 3;
/** A metered node whose connection dropped has this long (at most) to come back before it is down. */
const METERED_DROP_GRACE_MS = 60_000;
/** Even when nothing changed, the full status goes out this often (a new leader may have missed it). */
const STATUS_REFRESH_MS: Record<LinkProfile, number> = {
  default: 30 * 60_000,
  metered: 24 * 3600_000,
};

/** What a node's profile means in time. */
export interface LinkTiming {
  profile: LinkProfile;
  /** The application heartbeat period; 0: none (the MQTT keepalive is the heartbeat). */
  heartbeatMs: number;
  keepaliveS: number;
  /** Silence after which the manager marks the node down. */
  detectionMs: number;
  /** A connection that dropped is given this long to come back. */
  dropGraceMs: number;
  statusRefreshMs: number;
}

export function linkTiming(
  profile: LinkProfile,
  clusterHeartbeatMs: number,
  meteredKeepaliveS = METERED_KEEPALIVE_S,
): LinkTiming {
  if (profile === 'default') {
    return {
      profile,
      heartbeatMs: clusterHeartbeatMs,
      keepaliveS: DEFAULT_KEEPALIVE_S,
      detectionMs: clusterHeartbeatMs * MISSED_BEATS,
      dropGraceMs: clusterHeartbeatMs,
      statusRefreshMs: STATUS_REFRESH_MS.default,
    };
  }
  const keepaliveMs = meteredKeepaliveS * 1000;
  const dropGraceMs = Math.min(METERED_DROP_GRACE_MS, keepaliveMs);
  return {
    profile,
    heartbeatMs: 0,
    keepaliveS: meteredKeepaliveS,
    // The broker waits 1.5 keepalive periods (MQTT-3.1.2-24), then the drop grace.
    detectionMs: keepaliveMs * 1.5 + dropGraceMs,
    dropGraceMs,
    statusRefreshMs: STATUS_REFRESH_MS.metered,
  };
}

/** What a node record says of its link (shared/spec.ts NodeRecord). */
export interface NodeLinkFields {
  profile?: LinkProfile | undefined;
  announcedProfile?: LinkProfile | undefined;
  keepaliveS?: number | undefined;
}

/** The profile a node runs with: the manager's word first, else what its agent announced. */
export function effectiveProfile(n: NodeLinkFields): LinkProfile {
  return n.profile ?? n.announcedProfile ?? 'default';
}

/** A node's timing: its profile's, with the keepalive set for it (`node update --keepalive`). */
export function nodeLinkTiming(n: NodeLinkFields, clusterHeartbeatMs: number): LinkTiming {
  return linkTiming(effectiveProfile(n), clusterHeartbeatMs, n.keepaliveS ?? METERED_KEEPALIVE_S);
}

/** How `node ls` and `node inspect` show a node's link (absent from managers that predate it). */
export interface NodeLinkView {
  profile?: LinkProfile;
  /** The silence after which the manager marks it down: "~6 s", "~31 min (metered)". */
  detection?: string;
}

/** "~6 s", "~31 min (metered)": the down detection `node ls` shows. */
export function describeDetection(t: LinkTiming): string {
  const s = t.detectionMs / 1000;
  const text =
    s < 120
      ? `~${Math.round(s)} s`
      : s < 7200
        ? `~${Math.round(s / 60)} min`
        : `~${Math.round(s / 3600)} h`;
  return t.profile === 'default' ? text : `${text} (${t.profile})`;
}

/** The status refresh period of a profile (agent side, where only the profile is known). */
export function statusRefreshMs(profile: LinkProfile): number {
  return STATUS_REFRESH_MS[profile];
}

/** In each assignment: the profile the manager holds for the node and the keepalive to use. */
export const assignmentLinkSchema = z.object({
  profile: linkProfileSchema,
  keepaliveS: z.number().int().min(1).max(MAX_KEEPALIVE_S),
});
export type AssignmentLink = z.infer<typeof assignmentLinkSchema>;

/**
 * The keepalive an agent connects with: its assignment's; before any assignment, its own
 * profile's; the default one under a manager whose assignments say nothing of links (it
 * expects heartbeats, and a long keepalive would only slow the agent's failover).
 */
export function agentKeepaliveS(
  assignment: { link?: AssignmentLink | undefined } | null | undefined,
  ownProfile: LinkProfile | undefined,
): number {
  if (assignment) return assignment.link?.keepaliveS ?? DEFAULT_KEEPALIVE_S;
  return ownProfile === 'metered' ? METERED_KEEPALIVE_S : DEFAULT_KEEPALIVE_S;
}

/** A node's profile and down detection as `node ls` and `node inspect` show them. */
export function nodeLinkView(n: NodeLinkFields, clusterHeartbeatMs: number): NodeLinkView {
  const t = nodeLinkTiming(n, clusterHeartbeatMs);
  return { profile: t.profile, detection: describeDetection(t) };
}

/** The fields `node.update` takes for the link: a profile to impose, or a metered keepalive. */
export const nodeLinkUpdateShape = {
  /** 'auto' drops the manager's word: the profile the agent announced applies again. */
  profile: z.enum([...LINK_PROFILES, 'auto']).optional(),
  /** Seconds; 0 returns to the default (20 min). */
  keepaliveS: z.number().int().min(0).max(MAX_KEEPALIVE_S).optional(),
};

/** The node record after `node update --profile/--keepalive`. */
export function withLinkUpdate<N extends NodeLinkFields>(
  n: N,
  p: { profile?: LinkProfile | 'auto' | undefined; keepaliveS?: number | undefined },
): N {
  const next = { ...n };
  if (p.profile === 'auto') delete next.profile;
  else if (p.profile !== undefined) next.profile = p.profile;
  if (p.keepaliveS === 0) delete next.keepaliveS;
  else if (p.keepaliveS !== undefined) next.keepaliveS = p.keepaliveS;
  return next;
}
