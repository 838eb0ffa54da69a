// Filesystems in a task: --mount (and its -add/-rm forms) in Docker's key=value syntax, and --read-only.
import { mountSchema, parseBytes, type MountSpec } from '../../../shared/spec.js';
import { UsageError } from '../usage.js';
import { repeatable } from './values.js';

const KEYS =
  'type, source (src), target (dst, destination), readonly (ro), volume-driver, volume-opt, tmpfs-size';

/**
 * One --mount value: comma-separated key=value pairs, as Docker writes them, e.g.
 * `type=volume,source=data,target=/data,readonly` or `type=tmpfs,target=/run,tmpfs-size=16M`.
 */
export function parseMount(flag: string, text: string): MountSpec {
  const fail = (why: string): UsageError =>
    new UsageError(`Invalid value for --${flag}: ${JSON.stringify(text)}: ${why}`);
  const m: Record<string, unknown> = { type: 'volume' };
  const volumeOptions: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') throw fail('an empty field (two commas in a row?)');
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : part.slice(eq + 1);
    const need = (): string => {
      if (value === undefined || value === '') throw fail(`${key} needs a value (${key}=…)`);
      return value;
    };
    switch (key) {
      case 'type':
        if (!['volume', 'bind', 'tmpfs'].includes(need()))
          throw fail(`type is volume, bind or tmpfs, not "${value ?? ''}"`);
        m.type = value;
        break;
      case 'source':
      case 'src':
        m.source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = need();
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = readonlyValue(value, fail);
        break;
      case 'volume-driver':
        m.volumeDriver = need();
        break;
      case 'volume-opt': {
        const opt = need();
        const oe = opt.indexOf('=');
        if (oe <= 0) throw fail('volume-opt takes KEY=VALUE, e.g. volume-opt=type=nfs');
        volumeOptions[opt.slice(0, oe)] = opt.slice(oe + 1);
        break;
      }
      case 'tmpfs-size': {
        const size = parseBytes(need());
        if (size === null) throw fail('tmpfs-size is a size such as 16M');
        m.tmpfsSizeBytes = size;
        break;
      }
      default:
        throw fail(`unknown key "${key}"; the keys are ${KEYS}`);
    }
  }
  if (Object.keys(volumeOptions).length > 0) m.volumeOptions = volumeOptions;
  if (m.target === undefined) throw fail('target=/path is required');
  const r = mountSchema.safeParse(m);
  if (!r.success) throw fail(r.error.issues[0]?.message ?? 'invalid mount');
  return r.data;
}

function readonlyValue(value: string | undefined, fail: (why: string) => UsageError): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw fail('readonly is true or false');
}

export function mountsFlag(flag: string, items: readonly string[]): MountSpec[] {
  const out = items.map((m) => parseMount(flag, m));
  const targets = new Set<string>();
  for (const m of out) {
    if (targets.has(m.target))
      throw new UsageError(`Invalid value for --${flag}: two mounts at ${m.target}`);
    targets.add(m.target);
  }
  return out;
}

export const mountOption = {
  ...repeatable,
  describe:
    'attach a filesystem: type=volume|bind|tmpfs,source=NAME|PATH,target=PATH[,readonly]' +
    '[,volume-driver=D][,volume-opt=K=V][,tmpfs-size=16M]; repeatable',
  coerce: (v: string[]) => mountsFlag('mount', v),
} as const;

export const mountAddOption = {
  ...repeatable,
  describe: 'add or replace (at the same target) a mount, as --mount',
  coerce: (v: string[]) => mountsFlag('mount-add', v),
} as const;

export const mountRmOption = {
  ...repeatable,
  describe: 'remove the mount at this target path',
} as const;

export const readOnlyOption = {
  type: 'boolean',
  describe: "mount the container's root filesystem read-only",
} as const;
