// After interpolation, strings where Compose expects a number or a boolean become one ("${REPLICAS}" → 3), as docker compose does.
import { isMapping, type Value } from './locator.js';

type Kind = 'int' | 'float' | 'bool';

/** Paths below a service ("*" is any key or index) whose value is a number or a boolean. */
const SERVICE_PATHS: Record<string, Kind> = {
  'deploy.replicas': 'int',
  'deploy.update_config.parallelism': 'int',
  'deploy.update_config.max_failure_ratio': 'float',
  'deploy.rollback_config.parallelism': 'int',
  'deploy.rollback_config.max_failure_ratio': 'float',
  'deploy.restart_policy.max_attempts': 'int',
  'deploy.placement.max_replicas_per_node': 'int',
  'healthcheck.retries': 'int',
  'healthcheck.disable': 'bool',
  init: 'bool',
  privileged: 'bool',
  read_only: 'bool',
  tty: 'bool',
  stdin_open: 'bool',
  scale: 'int',
  'ports.*.target': 'int',
  'ports.*.published': 'int',
  'ulimits.*': 'int',
  'ulimits.*.soft': 'int',
  'ulimits.*.hard': 'int',
  'volumes.*.read_only': 'bool',
  'secrets.*.mode': 'int',
  'configs.*.mode': 'int',
  'depends_on.*.required': 'bool',
  'depends_on.*.restart': 'bool',
};

/** Paths below a top-level network, volume, secret or config. */
const RESOURCE_PATHS: Record<string, Kind> = {
  external: 'bool',
  internal: 'bool',
  attachable: 'bool',
  enable_ipv6: 'bool',
};

/** Turns the strings at typed paths into numbers and booleans, in place. */
export function castTypes(root: Record<string, Value>): void {
  const services = root.services;
  if (isMapping(services))
    for (const svc of Object.values(services)) castAt(svc, [], SERVICE_PATHS);
  for (const section of ['networks', 'volumes', 'secrets', 'configs']) {
    const s = root[section];
    if (isMapping(s)) for (const r of Object.values(s)) castAt(r, [], RESOURCE_PATHS);
  }
}

function castAt(node: Value, path: string[], table: Record<string, Kind>): void {
  const entries: [string | number, Value][] = Array.isArray(node)
    ? node.map((v, i) => [i, v])
    : isMapping(node)
      ? Object.entries(node)
      : [];
  for (const [key, value] of entries) {
    const here = [...path, String(key)];
    const kind = kindAt(table, here);
    if (typeof value === 'string' && kind) {
      const cast = castValue(value, kind);
      if (cast !== undefined) (node as Record<string | number, Value>)[key] = cast;
    } else if (typeof value === 'object' && value !== null && here.length < 4) {
      castAt(value, here, table);
    }
  }
}

function kindAt(table: Record<string, Kind>, path: readonly string[]): Kind | undefined {
  for (const [pattern, kind] of Object.entries(table)) {
    const parts = pattern.split('.');
    if (parts.length === path.length && parts.every((p, i) => p === '*' || p === path[i]))
      return kind;
  }
  return undefined;
}

function castValue(text: string, kind: Kind): Value | undefined {
  const t = text.trim();
  if (kind === 'bool') {
    if (/^(true|yes|on)$/i.test(t)) return true;
    if (/^(false|no|off)$/i.test(t)) return false;
    return undefined;
  }
  if (kind === 'int') return /^-?\d{1,15}$/.test(t) ? Number(t) : undefined;
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : undefined;
}
