// What a flash target is, from /proc/self/mountinfo and /sys: a regular file, or a block device that is safe to overwrite.
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseMountinfo, rootMount } from '../shared/mountinfo.js';

export type FlashTarget =
  | { readonly kind: 'file'; readonly path: string }
  | {
      readonly kind: 'block';
      readonly path: string;
      readonly disk: string;
      readonly removable: boolean;
      readonly capacity: number;
    };

/** "major:minor" of a device number as Linux encodes it (glibc's gnu_dev_major/minor). */
export function majMinOf(rdev: number): string {
  const big = BigInt(rdev);
  const major = ((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn);
  const minor = (big & 0xffn) | ((big >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** The reasons flashing `target` is refused; none means go ahead. */
export function refusals(
  target: FlashTarget,
  ctx: { rootDisks: ReadonlySet<string>; mountedDisks: ReadonlyMap<string, string> },
  yesIAmSure: boolean,
): string[] {
  if (target.kind === 'file') return [];
  const { disk, path: p } = target;
  if (ctx.rootDisks.has(disk)) {
    return [`${p} is ${disk}, the disk this system's root file system is on`];
  }
  const mounted = ctx.mountedDisks.get(disk);
  if (mounted !== undefined) return [`${p} (${disk}) has a mounted file system at ${mounted}`];
  if (!target.removable && !yesIAmSure) {
    return [`${p} (${disk}) is not a removable disk; add --yes-i-am-sure if it is the right one`];
  }
  return [];
}

/** Looks at `p` and refuses it when it is not something to flash (see refusals). */
export async function checkTarget(p: string, yesIAmSure: boolean): Promise<FlashTarget> {
  const s = await stat(p).catch(() => null);
  if (s === null) throw new Error(`${p} does not exist (a device, or a file standing for one)`);
  if (s.isFile()) return { kind: 'file', path: p };
  if (!s.isBlockDevice()) throw new Error(`${p} is neither a block device nor a regular file`);
  const sys = await realpath(`/sys/dev/block/${majMinOf(s.rdev)}`);
  if (await exists(path.join(sys, 'partition'))) {
    throw new Error(
      `${p} is a partition of ${path.basename(path.dirname(sys))}; flash the whole disk`,
    );
  }
  const disk = path.basename(sys);
  const target: FlashTarget = {
    kind: 'block',
    path: p,
    disk,
    removable: (await readSys(path.join(sys, 'removable'))) === '1',
    capacity: Number(await readSys(path.join(sys, 'size'))) * 512,
  };
  const mounts = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
  const root = rootMount(mounts);
  const rootDisks = root ? await disksOf(root.majMin) : new Set<string>();
  const mountedDisks = new Map<string, string>();
  for (const m of mounts) {
    for (const d of await disksOf(m.majMin))
      if (!mountedDisks.has(d)) mountedDisks.set(d, m.mountPoint);
  }
  for (const d of await swapDisks()) if (!mountedDisks.has(d)) mountedDisks.set(d, 'swap');
  const why = refusals(target, { rootDisks, mountedDisks }, yesIAmSure);
  if (why[0] !== undefined) throw new Error(`refusing to flash: ${why[0]}`);
  return target;
}

/**
 * The whole disks under a device: a partition's disk, and for a device-mapper or RAID device
 * the disks of its slaves. Devices without a /sys entry (tmpfs, overlay) have none.
 */
async function disksOf(majMin: string, depth = 0): Promise<Set<string>> {
  const out = new Set<string>();
  const sys = await realpath(`/sys/dev/block/${majMin}`).catch(() => null);
  if (sys === null || depth > 8) return out;
  const disk = (await exists(path.join(sys, 'partition'))) ? path.dirname(sys) : sys;
  out.add(path.basename(disk));
  const slaves = await readdir(path.join(sys, 'slaves')).catch(() => [] as string[]);
  for (const slave of slaves) {
    const dev = (await readSys(path.join(sys, 'slaves', slave, 'dev'))).trim();
    for (const d of await disksOf(dev, depth + 1)) out.add(d);
  }
  return out;
}

/** The disks that hold a swap area (/proc/swaps): in use, as a mounted file system is. */
async function swapDisks(): Promise<Set<string>> {
  const text = await readFile('/proc/swaps', 'utf8').catch(() => '');
  const out = new Set<string>();
  for (const line of text.split('\n').slice(1)) {
    const dev = line.split(/\s+/)[0];
    const s = dev ? await stat(dev).catch(() => null) : null;
    if (s?.isBlockDevice()) for (const d of await disksOf(majMinOf(s.rdev))) out.add(d);
  }
  return out;
}

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

const readSys = async (p: string): Promise<string> => (await readFile(p, 'utf8')).trim();
