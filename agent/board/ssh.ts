// SSH on the board: host keys made on the board itself (never shared between boards), and fleet.json's key in root's authorized_keys.
import { promises as fs } from 'node:fs';
import { under, type SetupContext, type SetupStep } from './context.js';
import { exists, readText, writeIfChanged } from './files.js';

/** The line fleet puts above the key it manages; the line after it is fleet's, every other is kept. */
export const FLEET_KEY_MARK =
  '# fleet: the next line is sshAuthorizedKey from fleet.json, rewritten at boot';

/** The host key types `ssh-keygen -A` makes. */
const HOST_KEY_TYPES = ['rsa', 'ecdsa', 'ed25519'] as const;

/**
 * authorized_keys with fleet's key (after its mark) replaced by `key`, or removed when `key`
 * is undefined. Lines fleet did not write stay as they are, in their order.
 */
export function mergeAuthorizedKeys(existing: string | null, key: string | undefined): string {
  const lines = (existing ?? '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line !== FLEET_KEY_MARK) {
      kept.push(line);
      continue;
    }
    const next = lines[i + 1];
    // The mark's key line goes with it, unless someone removed it and left the mark.
    if (next !== undefined && next.trim() !== '' && !next.startsWith('#')) i++;
  }
  if (key !== undefined) kept.push(FLEET_KEY_MARK, key.trim());
  return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
}

/** Makes the host keys that are missing; says which, or that openssh-server is not there. */
async function hostKeys(ctx: SetupContext): Promise<string> {
  const installed =
    (await exists(under(ctx, 'usr/sbin/sshd'))) ||
    (await exists(under(ctx, 'etc/ssh/sshd_config')));
  if (!installed) return 'openssh-server is not installed, no host keys made';
  const missing: string[] = [];
  for (const type of HOST_KEY_TYPES) {
    if (!(await exists(under(ctx, `etc/ssh/ssh_host_${type}_key`)))) missing.push(type);
  }
  if (missing.length === 0) return 'host keys present';
  await ctx.run('ssh-keygen', ctx.live ? ['-A'] : ['-A', '-f', ctx.root]);
  return `made host keys (${missing.join(', ')})`;
}

/** Writes or clears fleet's line of /root/.ssh/authorized_keys (directory 0700, file 0600). */
async function authorizedKey(ctx: SetupContext): Promise<string> {
  const key = ctx.settings.sshAuthorizedKey;
  const dir = under(ctx, 'root/.ssh');
  const file = under(ctx, 'root/.ssh/authorized_keys');
  const before = await readText(file);
  if (key === undefined && before === null) return 'no authorized key';
  const text = mergeAuthorizedKeys(before, key);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  const changed = await writeIfChanged(file, text, 0o600);
  if (key === undefined) return changed ? "removed fleet's authorized key" : 'no authorized key';
  return changed ? 'wrote the authorized key for root' : 'authorized key unchanged';
}

export const applySsh: SetupStep = async (ctx) => {
  const keys = await hostKeys(ctx);
  return `${keys}; ${await authorizedKey(ctx)}`;
};
