// /proc/self/mountinfo read (proc(5)): each mount's device number, mount point, file-system type and source, and the root's mount.

export interface Mount {
  /** "major:minor" of the device holding the file system (0:N for those without one). */
  readonly majMin: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

/** The mounts: fields 3 and 5, and the type and source after " - ". */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || right === undefined) continue;
    const f = left.split(' ');
    const majMin = f[2];
    const mountPoint = f[4];
    const [fsType, source] = right.split(' ');
    if (majMin === undefined || mountPoint === undefined || !fsType) continue;
    out.push({ majMin, mountPoint: unescapeOctal(mountPoint), fsType, source: source ?? '' });
  }
  return out;
}

/** The mount of the root file system: the last mount on "/" (a later one hides an earlier one). */
export function rootMount(mounts: readonly Mount[]): Mount | undefined {
  return mounts.filter((m) => m.mountPoint === '/').at(-1);
}

/** Mount points escape space, tab, newline and backslash as \ooo. */
const unescapeOctal = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
