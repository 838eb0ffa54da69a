// The version of this build of fleet: set in the agent bundle at bundle time, else package.json's.
import { readFileSync } from 'node:fs';

// bin/bundle-agent.js replaces this name with the release's version (esbuild `define`); in the
// compiled, unbundled tree it is not defined at all, which `typeof` tolerates.
declare const __FLEET_VERSION__: string | undefined;

/** This program's version: what `fleet-agent.mjs --version` prints and what an agent reports. */
export const FLEET_VERSION: string =
  typeof __FLEET_VERSION__ === 'string' ? __FLEET_VERSION__ : packageVersion();

function packageVersion(): string {
  try {
    // Compiled to dist/shared/version.js, two levels below the package root.
    const pkg: unknown = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    if (typeof pkg === 'object' && pkg && 'version' in pkg && typeof pkg.version === 'string')
      return pkg.version;
  } catch {
    // A missing package.json must not stop a program that only wants to print its version.
  }
  return '0.0.0-unknown';
}
