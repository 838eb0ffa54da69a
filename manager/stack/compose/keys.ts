// Every Compose key and what fleet does with it (honours, ignores, warns, refuses), beside Docker Swarm's support: one table for the loader and docs/stacks.md.
import { SERVICE_ROWS } from './key-rows-service.js';
import { TOP_ROWS } from './key-rows-top.js';

/** yes: honoured; ignored: accepted, no effect needed; warn: accepted with a warning; no: refused. */
export type FleetSupport = 'yes' | 'ignored' | 'warn' | 'no';
/** What `docker stack deploy` does with the key: uses it, ignores it (silently or with a warning), or fails. */
export type SwarmSupport = 'yes' | 'ignored' | 'no';

export interface KeyRule {
  fleet: FleetSupport;
  swarm: SwarmSupport;
  note: string;
}

export type KeyRow = [FleetSupport, SwarmSupport, string];

/**
 * Keys by path: `top.KEY` at the top level, `service.KEY…` in a service (long-syntax list items
 * and named entries such as `service.networks.NAME.aliases` drop the index or name), and
 * `network.` / `volume.` / `secret.` / `config.` in the top-level sections.
 */
export const KEY_TABLE: ReadonlyMap<string, KeyRule> = new Map(
  Object.entries({ ...TOP_ROWS, ...SERVICE_ROWS }).map(([k, [fleet, swarm, note]]) => [
    k,
    { fleet, swarm, note },
  ]),
);

/** Whether the table classifies keys below this one (so the loader looks inside its value). */
export const hasChildren = (path: string): boolean => {
  for (const k of KEY_TABLE.keys()) if (k.startsWith(`${path}.`)) return true;
  return false;
};
