// Merges several Compose files as docker compose does: later files override, mappings merge by key, lists of mounts and ports by target.
import { isMapping, type Locator, type Mapping, type Value, text } from './locator.js';

/** Service keys whose list or mapping forms are merged as KEY → value. */
const DICT_KEYS = new Set(['environment', 'labels', 'annotations', 'sysctls', 'extra_hosts']);
/** Service keys merged as nested mappings; lists inside them are replaced. */
const DEEP_KEYS = new Set(['deploy', 'healthcheck', 'logging', 'build', 'ulimits', 'blkio_config']);
/** Service keys whose list or mapping forms are merged by name. */
const NAMED_KEYS = new Set(['networks', 'depends_on']);
/** Lists appended to, each value once. */
const APPEND_KEYS = new Set([
  'cap_add',
  'cap_drop',
  'group_add',
  'devices',
  'dns',
  'dns_opt',
  'dns_search',
  'expose',
  'tmpfs',
  'env_file',
  'security_opt',
  'external_links',
  'links',
  'profiles',
  'device_cgroup_rules',
]);

export class Merger {
  constructor(private readonly locator: Locator) {}

  /** The files merged in order: each one's values override the ones before. */
  files(roots: readonly Mapping[]): Mapping {
    let out: Mapping = {};
    this.locator.setSelf(
      out,
      roots[0] ? (this.locator.at(roots[0]) ?? { file: '' }) : { file: '' },
    );
    for (const root of roots) out = this.top(out, root);
    return out;
  }

  private top(base: Mapping, over: Mapping): Mapping {
    const out = this.copy(base);
    for (const [key, value] of Object.entries(over)) {
      const old = out[key];
      if (key === 'services' && isMapping(old) && isMapping(value)) {
        out[key] = this.byName(old, value, (a, b) => this.service(a, b));
      } else if (isMapping(old) && isMapping(value) && key !== 'name') {
        out[key] = this.byName(old, value, (a, b) => this.deep(a, b));
      } else out[key] = value;
      this.locator.copy(over, key, out, key);
    }
    return out;
  }

  private byName(base: Mapping, over: Mapping, merge: (a: Value, b: Value) => Value): Mapping {
    const out = this.copy(base);
    for (const [name, value] of Object.entries(over)) {
      const old = out[name];
      out[name] = old === undefined || old === null ? value : merge(old, value);
      this.locator.copy(over, name, out, name);
    }
    return out;
  }

  /** One service over another, key by key, by the rule for each key. */
  service(base: Value, over: Value): Value {
    if (!isMapping(base) || !isMapping(over)) return over;
    const out = this.copy(base);
    for (const [key, value] of Object.entries(over)) {
      const old = out[key];
      if (old === undefined || old === null || value === null) out[key] = value;
      else if (DICT_KEYS.has(key)) out[key] = this.shallow(this.dict(old), this.dict(value));
      else if (NAMED_KEYS.has(key)) out[key] = this.deep(this.named(old), this.named(value));
      else if (DEEP_KEYS.has(key)) out[key] = this.deep(old, value);
      else if (APPEND_KEYS.has(key)) out[key] = this.append(old, value);
      else if (['ports', 'volumes', 'secrets', 'configs'].includes(key))
        out[key] = this.byKey(old, value, key);
      else out[key] = value;
      this.locator.copy(over, key, out, key);
    }
    return out;
  }

  /** Nested mappings merged recursively; anything else replaced. */
  deep(base: Value, over: Value): Value {
    if (!isMapping(base) || !isMapping(over)) return over;
    const out = this.copy(base);
    for (const [key, value] of Object.entries(over)) {
      const old = out[key];
      out[key] = old === undefined ? value : this.deep(old, value);
      this.locator.copy(over, key, out, key);
    }
    return out;
  }

  private shallow(base: Mapping, over: Mapping): Mapping {
    const out = this.copy(base);
    for (const [key, value] of Object.entries(over)) {
      out[key] = value;
      this.locator.copy(over, key, out, key);
    }
    return out;
  }

  private copy(m: Mapping): Mapping {
    const out: Mapping = {};
    for (const [k, v] of Object.entries(m)) {
      out[k] = v;
      this.locator.copy(m, k, out, k);
    }
    const self = this.locator.at(m);
    if (self) this.locator.setSelf(out, self);
    return out;
  }

  /** ["KEY=VALUE", "KEY"] or {KEY: VALUE} as a mapping (a bare KEY maps to null). */
  private dict(v: Value): Mapping {
    if (isMapping(v)) return v;
    const out: Mapping = {};
    if (!Array.isArray(v)) return out;
    v.forEach((item, i) => {
      const s = text(item);
      const eq = s.indexOf('=');
      const key = eq < 0 ? s : s.slice(0, eq);
      out[key] = eq < 0 ? null : s.slice(eq + 1);
      this.locator.copy(v, i, out, key);
    });
    return out;
  }

  /** [a, b] or {a: {...}, b: null} as a mapping by name. */
  private named(v: Value): Mapping {
    if (isMapping(v)) return v;
    const out: Mapping = {};
    if (Array.isArray(v))
      v.forEach((item, i) => {
        out[text(item)] = null;
        this.locator.copy(v, i, out, text(item));
      });
    return out;
  }

  /** A string or a list, then another: each value once, in the order first met. */
  private append(base: Value, over: Value): Value {
    const a = Array.isArray(base) ? base : [base];
    const b = Array.isArray(over) ? over : [over];
    const out: Value[] = [];
    const seen = new Set<string>();
    for (const list of [a, b])
      list.forEach((item, i) => {
        const k = JSON.stringify(item);
        if (seen.has(k)) return;
        seen.add(k);
        out.push(item);
        this.locator.copy(list, i, out, out.length - 1);
      });
    return out;
  }

  /** Ports, volumes, secrets and configs: an entry of a later file replaces the one at its target. */
  private byKey(base: Value, over: Value, kind: string): Value {
    if (!Array.isArray(base) || !Array.isArray(over)) return over;
    const out: Value[] = [];
    const index = new Map<string, number>();
    for (const list of [base, over])
      list.forEach((item, i) => {
        const k = mergeKey(kind, item);
        const at = index.get(k);
        if (at === undefined) {
          index.set(k, out.length);
          out.push(item);
          this.locator.copy(list, i, out, out.length - 1);
        } else {
          out[at] = item;
          this.locator.copy(list, i, out, at);
        }
      });
    return out;
  }
}

/** What identifies a list entry across files: a mount's or file's target, a port's published:target/protocol. */
function mergeKey(kind: string, item: Value): string {
  if (kind === 'ports') {
    if (isMapping(item))
      return `${text(item.published ?? '')}:${text(item.target)}/${text(item.protocol ?? 'tcp')}`;
    const s = text(item);
    return s.includes('/') ? s : `${s}/tcp`;
  }
  if (kind === 'volumes') {
    if (isMapping(item)) return text(item.target);
    const parts = text(item).split(':');
    return parts.length === 1 ? (parts[0] ?? '') : (parts[1] ?? '');
  }
  if (isMapping(item)) return text(item.target ?? item.source);
  return text(item);
}
