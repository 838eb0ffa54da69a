// The agent–manager protocol version, and which agents a manager serves: one version older or newer than its own.
import { z } from 'zod';
import { compareVersions } from './ota/release-record.js';

/**
 * Raised when agent and manager stop understanding each other's messages. Agents that report
 * none predate the field and speak version 1.
 */
export const PROTOCOL_VERSION = 1;
/** A manager serves agents this many protocol versions away from its own, either way. */
export const PROTOCOL_WINDOW = 1;

/**
 * What a manager tells an agent it refuses, on topics.notice(nodeId): kept this small and loose
 * so that agents of any protocol can read and print it.
 */
export const noticeSchema = z.object({
  v: z.literal(1),
  code: z.string().max(64),
  message: z.string().max(2048),
});
export type Notice = z.infer<typeof noticeSchema>;

export type ProtocolVerdict = { ok: true } | { ok: false; message: string };

/** A release the managers hold, as far as the verdict needs it. */
export interface KnownRelease {
  version: string;
  protocolVersion?: number;
}

/**
 * Whether a manager speaking `managerProtocol` serves an agent of `agentVersion` speaking
 * `agentProtocol`, and if not, a message that names what to install.
 */
export function protocolVerdict(
  agent: { agentVersion: string; protocolVersion?: number | undefined },
  releases: readonly KnownRelease[],
  managerProtocol = PROTOCOL_VERSION,
): ProtocolVerdict {
  const spoken = agent.protocolVersion ?? 1;
  if (Math.abs(spoken - managerProtocol) <= PROTOCOL_WINDOW) return { ok: true };
  const low = managerProtocol - PROTOCOL_WINDOW;
  const high = managerProtocol + PROTOCOL_WINDOW;
  const what =
    `agent ${agent.agentVersion || '(unknown version)'} speaks protocol ${spoken}; ` +
    `this manager speaks ${managerProtocol} and serves agents of protocol ${low} to ${high}`;
  if (spoken > managerProtocol) {
    return {
      ok: false,
      message: `${what}: upgrade the managers, or install an older agent release on this node`,
    };
  }
  return { ok: false, message: `${what}: ${installHint(releases, low, high, managerProtocol)}` };
}

/** The newest release that speaks a protocol in the window (its own preferred), else advice. */
function installHint(
  releases: readonly KnownRelease[],
  low: number,
  high: number,
  own: number,
): string {
  const newest = (list: readonly KnownRelease[]): KnownRelease | undefined =>
    [...list].sort((a, b) => compareVersions(b.version, a.version))[0];
  const fits = releases.filter(
    (r) => r.protocolVersion !== undefined && r.protocolVersion >= low && r.protocolVersion <= high,
  );
  const pick =
    newest(fits.filter((r) => r.protocolVersion === own)) ?? newest(fits) ?? newest(releases);
  if (!pick) {
    return (
      'install an agent release of protocol ' + own + ' (none pushed yet: fleet agent release push)'
    );
  }
  return `install agent release ${pick.version} (fleet agent release ls)`;
}
