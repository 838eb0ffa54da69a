// Runs the file-system tools (sfdisk, mkfs.vfat, mtools, mkfs.ext4) on files; a failure names the step and the tool's stderr.
import { spawn } from 'node:child_process';

export interface ToolRun {
  readonly stdout: string;
  readonly stderr: string;
}

/** An error from one step of building or editing an image. */
export class ImageStepError extends Error {
  constructor(
    readonly step: string,
    detail: string,
  ) {
    super(`${step}: ${detail}`);
    this.name = 'ImageStepError';
  }
}

/**
 * Runs `cmd args` with `input` on stdin; a missing tool, a signal or a non-zero exit is an
 * ImageStepError naming `step`. mtools is told not to check the FAT geometry against a drive.
 */
export function runTool(
  step: string,
  cmd: string,
  args: readonly string[],
  input?: string,
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // mkfs.vfat, sfdisk and mkfs.ext4 live in /usr/sbin, off an ordinary user's PATH on Debian.
      env: {
        ...process.env,
        PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`,
        MTOOLS_SKIP_CHECK: '1',
        LC_ALL: 'C',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new ImageStepError(
          step,
          e.code === 'ENOENT' ? `${cmd} is not installed (${toolPackage(cmd)})` : e.message,
        ),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve({ stdout, stderr });
      const why = signal ? `killed by ${signal}` : `exit code ${code}`;
      const said = stderr.trim() || stdout.trim();
      reject(new ImageStepError(step, `${cmd} failed (${why})${said ? `: ${said}` : ''}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** The Debian package of each tool, for the "not installed" message. */
const PACKAGES: Record<string, string> = {
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  mdir: 'mtools',
  mtype: 'mtools',
  minfo: 'mtools',
  mdu: 'mtools',
  mmd: 'mtools',
  mmove: 'mtools',
  mdeltree: 'mtools',
  sfdisk: 'fdisk',
  'mkfs.ext4': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  blockdev: 'util-linux',
  xz: 'xz-utils',
  zstd: 'zstd',
  mmdebstrap: 'mmdebstrap',
  tar: 'tar',
  npm: 'npm',
  'aarch64-linux-gnu-strip': 'binutils-aarch64-linux-gnu',
};

function toolPackage(cmd: string): string {
  const pkg = PACKAGES[cmd];
  return pkg === undefined ? 'not found on PATH' : `Debian package ${pkg}`;
}
