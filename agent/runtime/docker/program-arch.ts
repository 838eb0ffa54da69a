// Finds a task's program built for another CPU than the engine's, which would die with "exec format error".
import type Docker from 'dockerode';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { programCandidates } from './missing-program.js';
import { destroyStream } from './streams.js';

/** ELF e_machine values and the platform names the cluster uses. */
const ELF_MACHINES: Readonly<Record<number, string>> = {
  0x03: '386',
  0x08: 'mips64',
  0x15: 'ppc64le',
  0x16: 's390x',
  0x28: 'arm',
  0x3e: 'amd64',
  0xb7: 'arm64',
  0xf3: 'riscv64',
};

/** The kernel runs these through a user-mode emulator when its binfmt handler is registered. */
const QEMU_NAMES: Readonly<Record<string, string>> = {
  '386': 'qemu-i386',
  arm: 'qemu-arm',
  arm64: 'qemu-aarch64',
  amd64: 'qemu-x86_64',
  ppc64le: 'qemu-ppc64le',
  riscv64: 'qemu-riscv64',
  s390x: 'qemu-s390x',
  mips64: 'qemu-mips64',
};

const TAR_HEADER = 512;
const MAX_LINKS = 8;

/**
 * The engine starts a foreign program and it dies at once with "exec format error", which reads
 * as a crash to be restarted forever. So the program's ELF header is read from the created
 * container first; a program for another architecture, with no emulator registered for it,
 * gives the refusal. Returns null when the program fits, is a script, or cannot be read.
 */
export async function foreignProgram(
  container: Docker.Container,
  info: Docker.ContainerInspectInfo,
  engineArch: string,
): Promise<string | null> {
  for (const candidate of programCandidates(info)) {
    const arch = await programArch(container, candidate, MAX_LINKS);
    if (arch === undefined) continue; // not there: the next place on PATH
    if (arch === null || arch === engineArch || emulated(arch)) return null;
    return `exec ${info.Path}: exec format error: the program is built for linux/${arch} and this node is linux/${engineArch}`;
  }
  return null;
}

/** The architecture of the ELF file at `file` (following symlinks), null if not ELF, undefined if absent. */
async function programArch(
  container: Docker.Container,
  file: string,
  links: number,
): Promise<string | null | undefined> {
  let head: Buffer;
  try {
    head = await readHead(await container.getArchive({ path: file }), TAR_HEADER + 20);
  } catch {
    return undefined;
  }
  if (head.length < TAR_HEADER) return null;
  const type = String.fromCharCode(head[156] ?? 0);
  if (type === '2' && links > 0) {
    const target = head.subarray(157, 257).toString('utf8').replace(/\0.*$/s, '');
    return programArch(container, path.posix.resolve(path.posix.dirname(file), target), links - 1);
  }
  const elf = head.subarray(TAR_HEADER);
  if (elf.length < 20 || elf.readUInt32BE(0) !== 0x7f454c46) return null;
  const machine = elf[5] === 2 ? elf.readUInt16BE(18) : elf.readUInt16LE(18);
  return ELF_MACHINES[machine] ?? `elf-machine-${machine}`;
}

/** The first `bytes` of a stream, which is then ended so the engine connection is freed. */
function readHead(stream: NodeJS.ReadableStream, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (): void => {
      destroyStream(stream);
      resolve(Buffer.concat(chunks).subarray(0, bytes));
    };
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= bytes) done();
    });
    stream.on('end', done);
    stream.on('error', reject);
  });
}

/** A handler that is registered and enabled (a disabled one runs nothing). */
function emulated(arch: string): boolean {
  const name = QEMU_NAMES[arch];
  if (name === undefined) return false;
  const handler = `/proc/sys/fs/binfmt_misc/${name}`;
  if (!existsSync(handler)) return false;
  try {
    return readFileSync(handler, 'utf8').startsWith('enabled');
  } catch {
    return false;
  }
}
