// The agent's own version: set by bin/bundle-agent.js in a bundle, else the package's (an agent run from the fleet CLI).
import { readFileSync } from 'node:fs';

/** Replaced by esbuild's define in a bundle; not declared anywhere else. */
declare const __FLEET_AGENT_VERSION__: string | undefined;

let cached: string | undefined;

/** The version an agent reports in its status and a release carries: package.json's unless bundled otherwise. */
export function agentVersion(): string {
  if (typeof __FLEET_AGENT_VERSION__ === 'string') return __FLEET_AGENT_VERSION__;
  cached ??= packageVersion();
  return cached;
}

function packageVersion(): string {
  try {
    // Compiled to dist/shared/agent-version.js, two levels below the package root.
    const pkg: unknown = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    if (typeof pkg === 'object' && pkg && 'version' in pkg && typeof pkg.version === 'string') {
      return pkg.version;
    }
  } catch {
    // fall through: an agent without a readable package.json still runs
  }
  return '0.0.0-unknown';
}
