// Sets the board's host name from fleet.json's pattern (the agent's node name): /etc/hostname, /etc/hosts, the kernel's.
import os from 'node:os';
import { boardFacts, renderBoardName, type BoardFacts } from '../board-config.js';
import { under, type SetupContext, type SetupStep } from './context.js';
import { readText, writeIfChanged } from './files.js';
import { ToolError } from './run-tool.js';

export const DEFAULT_HOSTNAME_PATTERN = 'fleet-{serial}';
/** How long a {mac} pattern waits at boot for the first network interface's driver. */
export const MAC_WAIT_MS = 20_000;
const MAC_POLL_MS = 500;

/** Debian's /etc/hosts for a new system, with the host's own line. */
const freshHosts = (name: string): string =>
  [
    '127.0.0.1\tlocalhost',
    `127.0.1.1\t${name}`,
    '',
    '::1\t\tlocalhost ip6-localhost ip6-loopback',
    'ff02::1\t\tip6-allnodes',
    'ff02::2\t\tip6-allrouters',
    '',
  ].join('\n');

/**
 * /etc/hosts with its 127.0.1.1 line naming `name` (Debian's convention for the host's own
 * name), added after the 127.0.0.1 line (or at the top) when missing; other lines are kept.
 */
export function hostsWithName(hosts: string | null, name: string): string {
  if (hosts === null || hosts.trim() === '') return freshHosts(name);
  const lines = hosts.split('\n');
  const own = `127.0.1.1\t${name}`;
  const at = lines.findIndex((l) => /^\s*127\.0\.1\.1\s/.test(l) || l.trim() === '127.0.1.1');
  if (at >= 0) {
    lines[at] = own;
  } else {
    const local = lines.findIndex((l) => /^\s*127\.0\.0\.1\s/.test(l));
    lines.splice(local + 1, 0, own);
  }
  const text = lines.join('\n');
  return text.endsWith('\n') ? text : `${text}\n`;
}

/**
 * The facts the name is made from. Board setup runs early in boot, possibly before the
 * network driver is loaded: a pattern with {mac} waits a while for an interface to appear, so
 * the host is not named without the MAC the agent will later use for the node.
 */
async function factsFor(ctx: SetupContext, pattern: string): Promise<BoardFacts> {
  let facts = await boardFacts(ctx.root);
  if (!ctx.live || !pattern.includes('{mac}')) return facts;
  for (let waited = 0; facts.mac === '' && waited < MAC_WAIT_MS; waited += MAC_POLL_MS) {
    await ctx.clock.sleep(MAC_POLL_MS);
    facts = await boardFacts(ctx.root);
  }
  return facts;
}

/** The step: the name from the pattern and the board's facts, written and (on a live system) set. */
export const applyHostname: SetupStep = async (ctx) => {
  const pattern = ctx.settings.hostname ?? DEFAULT_HOSTNAME_PATTERN;
  const name = renderBoardName(pattern, await factsFor(ctx, pattern));
  const changed: string[] = [];
  if (await writeIfChanged(under(ctx, 'etc/hostname'), `${name}\n`)) changed.push('/etc/hostname');
  const hostsFile = under(ctx, 'etc/hosts');
  if (await writeIfChanged(hostsFile, hostsWithName(await readText(hostsFile), name))) {
    changed.push('/etc/hosts');
  }
  if (ctx.live && os.hostname() !== name) {
    try {
      await ctx.run('hostname', [name]);
    } catch (e) {
      if (!(e instanceof ToolError && e.missing)) throw e;
      await ctx.run('hostnamectl', ['set-hostname', '--transient', name]);
    }
    changed.push('the running host name');
  }
  const where = ctx.live ? '' : ' (the running host name is left alone: --root is not /)';
  if (changed.length === 0) return `${name}, unchanged${where}`;
  return `${name} (from ${pattern}): set ${changed.join(', ')}${where}`;
};
