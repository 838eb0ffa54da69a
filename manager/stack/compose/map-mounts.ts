// Volumes (short "data:/path:ro", binds, long syntax, tmpfs) and tmpfs: of a service, resolved against the top-level volumes.
import { isAbsolute } from 'node:path';
import type { MountSpec } from '../../../shared/spec.js';
import { stringList, type MapContext } from './context.js';
import { parseComposeBytes } from './durations.js';
import { isMapping, type Mapping, text } from './locator.js';

type Mount = Omit<MountSpec, 'readOnly'> & { readOnly?: boolean };

export function mapMounts(ctx: MapContext, svc: Mapping, name: string): Mount[] {
  const out: Mount[] = [];
  const where = `service "${name}"`;
  if (Array.isArray(svc.volumes)) {
    const list = svc.volumes;
    list.forEach((item, i) => {
      const r = isMapping(item) ? longMount(ctx, item) : shortMount(ctx, text(item));
      if (typeof r === 'string')
        ctx.problem(list, i, `${where}: volume ${JSON.stringify(item)}: ${r}`);
      else out.push(r);
    });
  }
  const tmpfs = svc.tmpfs;
  stringList(tmpfs).forEach((entry, i) => {
    const r = tmpfsMount(entry);
    if (typeof r === 'string')
      ctx.problem(
        Array.isArray(tmpfs) ? tmpfs : svc,
        Array.isArray(tmpfs) ? i : 'tmpfs',
        `${where}: tmpfs "${entry}": ${r}`,
      );
    else out.push(r);
  });
  return out;
}

/** SOURCE:TARGET[:ro|rw]: a host path (/, ./, ../) is a bind, anything else a declared volume. */
function shortMount(ctx: MapContext, text: string): Mount | string {
  const parts = text.split(':');
  if (parts.length === 1)
    return 'an anonymous volume: name it (NAME:/path) and declare it under volumes:';
  if (parts.length > 3) return 'expected SOURCE:TARGET[:ro]';
  const [source = '', target = '', mode = 'rw'] = parts;
  const readOnly = mode.split(',').includes('ro');
  const other = mode.split(',').filter((o) => o !== 'ro' && o !== 'rw');
  if (other.length > 0) return `the option "${other.join(',')}" is not supported (only ro and rw)`;
  return sourced(ctx, source, target, readOnly);
}

function sourced(
  ctx: MapContext,
  source: string,
  target: string,
  readOnly: boolean,
): Mount | string {
  const ro = readOnly ? { readOnly: true } : {};
  if (source.startsWith('~')) return 'a path under ~ is not supported: write the host path in full';
  if (isAbsolute(source) || source.startsWith('.'))
    return { type: 'bind', source: ctx.path(source), target, ...ro };
  const volume = volumeName(ctx, source);
  if (volume === null) return `the volume "${source}" is not declared under the top-level volumes:`;
  return { type: 'volume', target, ...volume, ...ro };
}

function longMount(ctx: MapContext, m: Mapping): Mount | string {
  const target = text(m.target ?? '');
  const readOnly = m.read_only === true;
  if (m.type === 'tmpfs') {
    const tmpfs = isMapping(m.tmpfs) ? m.tmpfs : {};
    const size =
      tmpfs.size === undefined ? undefined : parseComposeBytes(tmpfs.size as string | number);
    if (size === null) return `tmpfs.size "${text(tmpfs.size)}" is not a size such as 64M`;
    return { type: 'tmpfs', target, ...(size !== undefined ? { tmpfsSizeBytes: size } : {}) };
  }
  if (m.type === 'bind' || m.type === 'volume') {
    if (typeof m.source !== 'string' || m.source === '') return `a ${m.type} needs a source`;
    if (m.type === 'volume' && (isAbsolute(m.source) || m.source.startsWith('.')))
      return 'a volume source is a volume name, not a path (use type: bind)';
    return sourced(ctx, m.source, target, readOnly);
  }
  return `type "${text(m.type)}" is not supported (volume, bind or tmpfs)`;
}

function tmpfsMount(entry: string): Mount | string {
  const [target = '', opts] = entry.split(/:(.*)/s);
  if (opts === undefined || opts === '') return { type: 'tmpfs', target };
  let size: number | undefined;
  for (const opt of opts.split(',')) {
    const m = /^size=(.+)$/.exec(opt);
    if (!m?.[1]) return `the option "${opt}" is not supported (only size=N)`;
    const n = parseComposeBytes(m[1]);
    if (n === null) return `"${m[1]}" is not a size such as 64M`;
    size = n;
  }
  return { type: 'tmpfs', target, ...(size !== undefined ? { tmpfsSizeBytes: size } : {}) };
}

/** A declared volume: its node-local name (STACK_KEY, or its name:), driver and options. */
function volumeName(
  ctx: MapContext,
  key: string,
): Pick<Mount, 'source' | 'volumeDriver' | 'volumeOptions'> | null {
  const volumes = ctx.section('volumes');
  if (!(key in volumes)) return null;
  const v = volumes[key];
  const decl = isMapping(v) ? v : {};
  const ext = decl.external;
  const external = ext === true || isMapping(ext);
  const extName = isMapping(ext) && typeof ext.name === 'string' ? ext.name : undefined;
  const name = typeof decl.name === 'string' ? decl.name : extName;
  const out: Pick<Mount, 'source' | 'volumeDriver' | 'volumeOptions'> = {
    source: name ?? (external ? key : ctx.scoped(key)),
  };
  if (typeof decl.driver === 'string' && decl.driver !== 'local') out.volumeDriver = decl.driver;
  if (isMapping(decl.driver_opts))
    out.volumeOptions = Object.fromEntries(
      Object.entries(decl.driver_opts).map(([k, o]) => [k, text(o)]),
    );
  return out;
}
