// What `fleet agent release push` learns from a bundle file before sending it: version, protocol, sha256, size.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { FleetError, errorMessage } from '../../../shared/errors.js';
import {
  BUNDLE_HEAD_BYTES,
  readBundleLine,
  type BundleLine,
} from '../../../shared/ota/release-record.js';

export interface BundleFacts {
  version: string;
  protocolVersion?: number;
  sha256: string;
  size: number;
}

/**
 * Reads FILE's version line (or takes `version` for a bundle without one) and hashes it. Refuses
 * a file that is not an agent bundle, and a --version that contradicts the bundle's own line.
 */
export async function readBundleFacts(file: string, version?: string): Promise<BundleFacts> {
  const refuse = (why: string): FleetError =>
    new FleetError('invalid_argument', `cannot push ${file}: ${why}`);
  const handle = await fs.open(file, 'r').catch((e: unknown) => {
    throw refuse(`cannot read it: ${errorMessage(e)}`);
  });
  let head: Buffer;
  let size: number;
  try {
    size = (await handle.stat()).size;
    head = Buffer.alloc(Math.min(size, BUNDLE_HEAD_BYTES));
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  if (size === 0) throw refuse('the file is empty');
  const line = readBundleLine(head);
  const chosen = chooseVersion(line, version, head, refuse);
  const sha256 = await hashFile(file);
  return {
    version: chosen,
    ...(line?.protocolVersion !== undefined ? { protocolVersion: line.protocolVersion } : {}),
    sha256,
    size,
  };
}

function chooseVersion(
  line: BundleLine | null,
  version: string | undefined,
  head: Buffer,
  refuse: (why: string) => FleetError,
): string {
  if (line) {
    if (version !== undefined && version !== line.version) {
      throw refuse(`--version ${version} differs from the bundle's own version ${line.version}`);
    }
    return line.version;
  }
  if (version === undefined) {
    throw refuse(
      'it is not a fleet agent bundle: no "// fleet-agent VERSION" line near its top (build one with node bin/bundle-agent.js, or give --version)',
    );
  }
  if (!looksLikeScript(head)) {
    throw refuse('it is not a fleet agent bundle: its first bytes are not JavaScript text');
  }
  return version;
}

/** Text without NUL bytes that decodes as UTF-8: what a bundle's head is, and a binary's is not. */
function looksLikeScript(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - 4));
    return true;
  } catch {
    return false;
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
