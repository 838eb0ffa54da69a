// The Debian arm64 root file system of a board image: mmdebstrap's arguments, the cache key, and the cached tarball.
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Board } from './board.js';
import { initramfsSetupHook } from './initramfs.js';
import { ImageStepError, runTool } from './tools.js';

export type Runtime = 'docker' | 'process';

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
export const SUITE = 'bookworm';

/**
 * What every board gets on top of minbase: systemd as init, udev and kmod for the kernel,
 * networkd/resolved/timesyncd (a Pi has no real-time clock, and TLS needs the time), iproute2
 * for the agent's bridges, e2fsprogs and fdisk to grow the root on first boot, tzdata for
 * fleet.json's time zone, dbus for hostnamectl and timedatectl, and openssh-server for
 * fleet.json's sshAuthorizedKey (its host keys are made on each board at boot, see the hook).
 */
export const BASE_PACKAGES: readonly string[] = [
  'systemd-sysv',
  'udev',
  'kmod',
  'dbus',
  'systemd-resolved',
  'systemd-timesyncd',
  'iproute2',
  'ca-certificates',
  'e2fsprogs',
  'fdisk',
  'tzdata',
  'procps',
  'openssh-server',
];

/** Docker's engine from Debian, for --runtime docker. */
export const DOCKER_PACKAGES: readonly string[] = ['docker.io'];

/**
 * Files dpkg leaves out: documentation, manual pages and translations, which nothing on a
 * headless board reads, and the programs and firmware below.
 */
export const DPKG_EXCLUDES: readonly string[] = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/lintian/*',
  // docker.io's libnetwork test tools, containerd's own command line and its v1 shims: dockerd
  // runs containers through containerd-shim-runc-v2 alone.
  'path-exclude=/usr/bin/dnet',
  'path-exclude=/usr/sbin/ovrouter',
  'path-exclude=/usr/bin/ctr',
  'path-exclude=/usr/bin/containerd-shim',
  'path-exclude=/usr/bin/containerd-shim-runc-v1',
  // Firmware of Broadcom's and Cypress's PCIe Wi-Fi cards; a Pi's radio is on SDIO. bookworm's
  // packages still name /lib/firmware, which the merged /usr makes /usr/lib/firmware.
  'path-exclude=/lib/firmware/brcm/*-pcie*',
  'path-exclude=/lib/firmware/cypress/*-pcie*',
];

export interface RootfsSpec {
  readonly board: Board;
  readonly runtime: Runtime;
  readonly mirror: string;
}

/** Every package of the root file system, in a stable order. */
export function rootfsPackages(spec: RootfsSpec): string[] {
  const { packages } = spec.board;
  const all = [
    ...BASE_PACKAGES,
    ...packages.kernel,
    ...packages.firmware,
    ...packages.extra,
    ...(spec.runtime === 'docker' ? DOCKER_PACKAGES : []),
  ];
  return [...new Set(all)];
}

/** Debian components: non-free-firmware holds raspi-firmware and the Wi-Fi firmware. */
export const componentsOf = (board: Board): string[] =>
  board.packages.firmware.length > 0 ? ['main', 'non-free-firmware'] : ['main'];

/**
 * The shell run by mmdebstrap on the finished tree ($1): the modules the board cannot use
 * removed and depmod rerun (under qemu-user), and the network services enabled (DHCP on
 * every wired interface; the agent's own bridges are not matched). The SSH host keys that
 * openssh-server's install made are deleted: every board flashed from the image would share
 * them (and so could impersonate one another); board setup makes each board its own at boot.
 */
export function customizeHook(board: Board): string {
  const trims = board.trimModules.map((d) => `"$1"/lib/modules/*/kernel/${d}`).join(' ');
  return [
    'set -e',
    ...(trims ? [`rm -rf ${trims}`] : []),
    ...Object.entries(board.keepOnlyModules).map(([dir, keep]) =>
      keepOnly(`lib/modules/*/kernel/${dir}`, keep),
    ),
    deviceTreeTrim(board),
    // udev keeps the compiled hardware database (hwdb.bin); its sources are only for rebuilding it.
    'rm -rf "$1"/usr/lib/udev/hwdb.d',
    'for v in "$1"/lib/modules/*; do chroot "$1" depmod "${v##*/}"; done',
    'mkdir -p "$1"/etc/systemd/network',
    `printf '[Match]\\nName=eth* en*\\n\\n[Network]\\nDHCP=yes\\n' > "$1"/etc/systemd/network/20-wired.network`,
    'chroot "$1" systemctl enable systemd-networkd systemd-resolved systemd-timesyncd',
    'rm -f "$1"/etc/ssh/ssh_host_*',
  ].join('\n');
}

/** A shell line removing every entry of the folders `dirs` (a glob under "$1") but those matching `keep`. */
export function keepOnly(dirs: string, keep: readonly string[]): string {
  // A case pattern no entry's name matches when nothing is kept.
  const names = keep.length > 0 ? keep.join('|') : '/';
  return `for d in "$1"/${dirs}/*; do case "\${d##*/}" in ${names}) ;; *) rm -rf "$d" ;; esac; done`;
}

/** The shell line that removes the device-tree folders the board does not keep from "$1". */
export const deviceTreeTrim = (board: Board): string =>
  keepOnly('usr/lib/linux-image-*', board.deviceTrees);

/**
 * mmdebstrap's arguments for a tarball of the board's root file system at `out`. With
 * `aptCache`, the downloaded packages are kept there between builds (mmdebstrap's sync-in and
 * sync-out hooks), so a rebuild with changed packages downloads only what it lacks.
 */
export function mmdebstrapArgs(spec: RootfsSpec, out: string, aptCache?: string): string[] {
  const archives = '/var/cache/apt/archives';
  const cache =
    aptCache === undefined
      ? []
      : [
          '--skip=essential/unlink',
          `--setup-hook=mkdir -p "$1"${archives}`,
          `--setup-hook=sync-in ${aptCache} ${archives}`,
          `--customize-hook=sync-out ${archives} ${aptCache}`,
        ];
  return [
    '--variant=minbase',
    `--architectures=${spec.board.arch}`,
    '--format=tar',
    `--components=${componentsOf(spec.board).join(',')}`,
    // /bin, /lib and /sbin made links into /usr before anything is installed, as Debian's
    // installer does; otherwise apt picks usrmerge, which brings Perl (30 MB) into the image.
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    `--include=${rootfsPackages(spec).join(',')}`,
    '--aptopt=APT::Install-Recommends "false"',
    ...DPKG_EXCLUDES.map((o) => `--dpkgopt=${o}`),
    `--setup-hook=${initramfsSetupHook(spec.board)}`,
    `--customize-hook=${customizeHook(spec.board)}`,
    ...cache,
    SUITE,
    out,
    spec.mirror,
  ];
}

/**
 * The cache key: a hash of everything mmdebstrap is given (packages, components, hook, mirror,
 * runtime, suite). The agent is not in it, so a changed agent reuses the root file system.
 */
export function rootfsCacheKey(spec: RootfsSpec): string {
  const what = JSON.stringify({ v: 1, args: mmdebstrapArgs(spec, 'OUT') });
  return createHash('sha256').update(what).digest('hex').slice(0, 16);
}

export interface RootTarball {
  readonly path: string;
  /** True when it came from the cache and mmdebstrap did not run. */
  readonly cached: boolean;
}

/** The cached tarball for `spec`, made with mmdebstrap when missing (via a .partial file). */
export async function rootTarball(spec: RootfsSpec, cacheDir: string): Promise<RootTarball> {
  const file = path.join(
    cacheDir,
    `rootfs-${SUITE}-${spec.board.arch}-${spec.runtime}-${rootfsCacheKey(spec)}.tar`,
  );
  if ((await stat(file).catch(() => null))?.isFile()) return { path: file, cached: true };
  const aptCache = path.join(cacheDir, 'apt-archives');
  await mkdir(aptCache, { recursive: true });
  const partial = `${file}.partial`;
  try {
    await runTool(
      'making the root file system (mmdebstrap)',
      'mmdebstrap',
      ['--quiet', ...mmdebstrapArgs(spec, partial, aptCache)],
      undefined,
    );
    await rename(partial, file);
  } catch (e) {
    await rm(partial, { force: true });
    // mmdebstrap's last lines say what went wrong (apt's error for an unreachable mirror).
    const said = e instanceof ImageStepError ? e.message.slice(e.step.length + 2) : String(e);
    throw new ImageStepError(
      'making the root file system (mmdebstrap)',
      shorten(said.split('\n')).join('\n'),
    );
  }
  return { path: file, cached: false };
}

/** The first line (which tool, which exit code) and the last ten. */
const shorten = (lines: string[]): string[] =>
  lines.length <= 12 ? lines : [lines[0] ?? '', '…', ...lines.slice(-10)];
