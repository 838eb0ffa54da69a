// Applies the key table to a merged Compose file: refused keys are problems (or one warning each with ignoreUnsupported), warned keys warnings.
import type { Problems } from './errors.js';
import { hasChildren, KEY_TABLE } from './keys.js';
import { isMapping, type Locator, type Mapping, type Value } from './locator.js';

/** Keys whose value maps names to settings: the names are skipped in the table's paths. */
const NAMED_ENTRIES = new Set(['service.networks', 'service.depends_on']);

const SECTIONS: Record<string, string> = {
  networks: 'network',
  volumes: 'volume',
  secrets: 'secret',
  configs: 'config',
};

export function checkKeys(
  root: Mapping,
  locator: Locator,
  problems: Problems,
  ignoreUnsupported: boolean,
): void {
  const walker = new Walker(locator, problems, ignoreUnsupported);
  walker.mapping(root, 'top', 'the top level');
  const services = root.services;
  if (isMapping(services))
    for (const [name, svc] of Object.entries(services))
      if (isMapping(svc)) walker.mapping(svc, 'service', `service "${name}"`);
  for (const [section, kind] of Object.entries(SECTIONS)) {
    const entries = root[section];
    if (!isMapping(entries)) continue;
    for (const [name, entry] of Object.entries(entries))
      if (isMapping(entry)) walker.mapping(entry, kind, `${kind} "${name}"`);
  }
}

class Walker {
  constructor(
    private readonly locator: Locator,
    private readonly problems: Problems,
    private readonly ignoreUnsupported: boolean,
  ) {}

  mapping(m: Mapping, prefix: string, owner: string, display = ''): void {
    for (const [key, value] of Object.entries(m)) {
      if (key.startsWith('x-')) continue;
      const path = `${prefix}.${key}`;
      const shown = display ? `${display}.${key}` : key;
      const loc = this.locator.at(m, key);
      const rule = KEY_TABLE.get(path);
      const fleet = rule?.fleet ?? 'no';
      const why = rule?.note ?? 'not a key fleet knows';
      if (fleet === 'no') {
        const text = `${owner}: "${shown}" is not supported by fleet (${why})`;
        if (this.ignoreUnsupported) this.problems.warn(loc, `${text}; ignored`);
        else this.problems.add(loc, text);
        continue;
      }
      if (fleet === 'warn') this.problems.warn(loc, `${owner}: "${shown}" has no effect (${why})`);
      if (prefix === 'top' || !hasChildren(path)) continue;
      this.inside(value, path, owner, shown);
    }
  }

  private inside(value: Value, path: string, owner: string, shown: string): void {
    if (NAMED_ENTRIES.has(path) && isMapping(value)) {
      for (const [name, entry] of Object.entries(value))
        if (isMapping(entry)) this.mapping(entry, path, owner, `${shown}.${name}`);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (isMapping(item)) this.mapping(item, path, owner, `${shown}[${i}]`);
      });
    } else if (isMapping(value)) this.mapping(value, path, owner, shown);
  }
}
