// Builds a board image: cached Debian root file system, arm64 Node.js, the agent and its unit, boot files, then the assembler.
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../shared/clock.js';
import { assembleImage, type AssembledImage } from './assemble.js';
import type { Board } from './board.js';
import { collectBootFiles } from './boot-files.js';
import { ARM64_STRIP, armNodeBinary, stripArm64 } from './node-binary.js';
import {
  AGENT_DATA_DIR,
  AGENT_PATH,
  AGENT_UNIT,
  BOARD_SETUP_TARGET,
  BOARD_SETUP_UNIT,
  BOOT_LABEL,
  BOOT_MOUNT,
  NODE_PATH,
  ROOT_LABEL,
  agentUnit,
  boardSetupUnit,
  fstab,
  nodeFlagsFromShebang,
} from './root-files.js';
import { stagePreload, type SavedImages } from './preload.js';
import { rootTarball, type Runtime } from './rootfs.js';
import { ImageStepError, runTool } from './tools.js';

export interface BuildOptions {
  readonly board: Board;
  readonly runtime: Runtime;
  readonly mirror: string;
  readonly cacheDir: string;
  readonly out: string;
  /** The bundled agent (dist/fleet-agent.mjs). */
  readonly agentBundle: string;
  /** fleet.json's text, when join settings were given. */
  readonly settingsJson?: string;
  /** Container images for preload/ on the boot partition, which is sized to hold them. */
  readonly preload?: SavedImages;
  readonly clock: Clock;
  /** One line per step, for the person waiting. */
  readonly log: (line: string) => void;
}

export interface BuildResult {
  readonly image: AssembledImage;
  /** True when the root file system came from the cache. */
  readonly rootfsCached: boolean;
  readonly rootfsMs: number;
  readonly assembleMs: number;
  readonly totalMs: number;
}

/**
 * Builds `opts.out`. Everything is made in a temporary directory beside it and the assembler
 * writes OUT.partial and renames it at the end, so a failure leaves nothing under the name.
 * Unpacking keeps file owners and device nodes, which needs root.
 */
export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const { board, clock, log } = opts;
  if (!board.supported)
    throw new ImageStepError(`board ${board.name}`, board.note ?? 'unsupported');
  if (process.getuid?.() !== 0) {
    throw new ImageStepError('building the image', 'needs root (mmdebstrap and file owners)');
  }
  const started = clock.now();
  log(`root file system: Debian bookworm arm64 for ${board.name}, runtime ${opts.runtime}`);
  const tarball = await rootTarball(opts, opts.cacheDir);
  const rootfsMs = clock.now() - started;
  log(tarball.cached ? `root file system from the cache` : `root file system made with mmdebstrap`);
  const node = await armNodeBinary(opts.cacheDir);
  const assembling = clock.now();
  const work = await mkdtemp(path.join(path.dirname(path.resolve(opts.out)), '.fleet-build-'));
  try {
    const rootDir = path.join(work, 'root');
    const bootDir = path.join(work, 'boot');
    await mkdir(rootDir);
    await mkdir(bootDir);
    await runTool('unpacking the root file system', 'tar', [
      '-xpf',
      tarball.path,
      '--numeric-owner',
      '-C',
      rootDir,
    ]);
    log('adding Node.js, the agent and its unit');
    await addFleet(rootDir, node, opts);
    log('collecting the boot files');
    await collectBootFiles(board, rootDir, bootDir, opts.settingsJson);
    if (opts.preload) await stagePreload(opts.preload, bootDir);
    // The boot partition is mounted here; its copies in the root would only take space, as
    // would the kernel and initramfs in /boot, which boot from the boot partition.
    await rm(path.join(rootDir, BOOT_MOUNT), { recursive: true, force: true });
    await removeBootCopies(rootDir);
    await mkdir(path.join(rootDir, BOOT_MOUNT), { recursive: true });
    log('assembling the image');
    const image = await assembleImage({
      bootDir,
      rootDir,
      out: opts.out,
      minBootMiB: board.bootPartitionMiB,
      bootLabel: BOOT_LABEL,
      rootLabel: ROOT_LABEL,
    });
    const now = clock.now();
    return {
      image,
      rootfsCached: tarball.cached,
      rootfsMs,
      assembleMs: now - assembling,
      totalMs: now - started,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Links `unit` from `target`'s .wants directory, as `systemctl enable` would. */
async function enableUnit(units: string, unit: string, target: string): Promise<void> {
  await mkdir(path.join(units, `${target}.wants`), { recursive: true });
  await symlink(`/etc/systemd/system/${unit}`, path.join(units, `${target}.wants`, unit));
}

/** Node.js, the agent, its units (enabled), fstab, the hostname and resolv.conf in `rootDir`. */
async function addFleet(rootDir: string, node: string, opts: BuildOptions): Promise<void> {
  const at = (p: string): string => path.join(rootDir, p);
  const step = 'adding fleet to the root file system';
  try {
    await mkdir(path.dirname(at(NODE_PATH)), { recursive: true });
    await copyFile(node, at(NODE_PATH));
    await chmod(at(NODE_PATH), 0o755);
    if (!(await stripArm64(at(NODE_PATH)))) {
      opts.log(`Node.js keeps its symbols: ${ARM64_STRIP} is not installed`);
    }
    await mkdir(path.dirname(at(AGENT_PATH)), { recursive: true });
    const agent = await readFile(opts.agentBundle, 'utf8');
    await writeFile(at(AGENT_PATH), agent, { mode: 0o755 });
    await mkdir(at(AGENT_DATA_DIR), { recursive: true, mode: 0o700 });
    const flags = nodeFlagsFromShebang(agent.split('\n', 1)[0] ?? '');
    const units = at('/etc/systemd/system');
    await writeFile(path.join(units, AGENT_UNIT), agentUnit(opts.runtime, flags));
    await enableUnit(units, AGENT_UNIT, 'multi-user.target');
    await writeFile(path.join(units, BOARD_SETUP_UNIT), boardSetupUnit(flags));
    await enableUnit(units, BOARD_SETUP_UNIT, BOARD_SETUP_TARGET);
    await writeFile(at('/etc/fstab'), fstab());
    // Board setup replaces it at boot from the serial number or MAC address (fleet.json's hostname).
    await writeFile(at('/etc/hostname'), 'fleet-board\n');
    await rm(at('/etc/resolv.conf'), { force: true });
    await symlink('../run/systemd/resolve/stub-resolv.conf', at('/etc/resolv.conf'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ImageStepError(
      step,
      err.code === 'ENOSPC' ? 'no space left on the device' : err.message,
    );
  }
}

/** /boot's kernel and initramfs: the board boots the copies on its boot partition. */
async function removeBootCopies(rootDir: string): Promise<void> {
  const dir = path.join(rootDir, 'boot');
  for (const name of await readdir(dir)) {
    if (/^(vmlinuz|initrd\.img)-/.test(name)) await rm(path.join(dir, name), { force: true });
  }
}
