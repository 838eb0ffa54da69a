// A board image booted under qemu-system-aarch64 (QEMU's virt machine, no KVM): kernel and initramfs taken from its boot partition, user-mode network, serial console to a file.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { SECTOR } from '../../firmware-images/layout.js';
import { readPartitionTable } from '../../firmware-images/mbr.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

/** Why QEMU cannot boot a board here, or null when it can. */
export function qemuSystemMissing(): string | null {
  const r = spawnSync('qemu-system-aarch64', ['--version']);
  return r.status === 0
    ? null
    : 'qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)';
}

export interface BoardVm {
  readonly proc: ChildProcess;
  /** The serial console's file. */
  readonly consoleLog: string;
  /** Everything the console printed so far. */
  console(): string;
  /** Waits for the console to print a line matching `pattern`. */
  waitForConsole(pattern: RegExp, what: string, timeoutMs: number): Promise<string>;
  /** Presses the power button and waits for the board to turn off; kills QEMU past `timeoutMs`. */
  powerOff(timeoutMs: number): Promise<'clean' | 'killed'>;
}

/** A file of the image's FAT boot partition copied to `dest`, without mounting. */
export async function bootFileOf(image: string, name: string, dest: string): Promise<void> {
  const [boot] = await readPartitionTable(image);
  if (!boot) throw new Error(`${image} has no boot partition`);
  await run('mcopy', ['-n', '-i', `${image}@@${boot.start * SECTOR}`, `::/${name}`, dest], {
    env: MTOOLS_ENV,
  });
}

/**
 * Boots `image` (raw, written in place like an SD card) with the kernel, initramfs and
 * command line of its own boot partition. The guest reaches the host's 127.0.0.1 as 10.0.2.2.
 */
export async function bootBoard(
  image: string,
  workDir: string,
  opts: { memoryMiB?: number; cpus?: number; network?: boolean } = {},
): Promise<BoardVm> {
  const kernel = path.join(workDir, 'vmlinuz');
  const initrd = path.join(workDir, 'initrd.img');
  const cmdline = path.join(workDir, 'cmdline.txt');
  await bootFileOf(image, 'vmlinuz', kernel);
  await bootFileOf(image, 'initrd.img', initrd);
  await bootFileOf(image, 'cmdline.txt', cmdline);
  const qmp = path.join(workDir, 'qmp.sock');
  const consoleLog = path.join(workDir, `console-${process.hrtime.bigint()}.log`);
  const args = [
    ...['-M', 'virt', '-cpu', 'cortex-a72', '-smp', String(opts.cpus ?? 2)],
    ...['-m', String(opts.memoryMiB ?? 1024), '-display', 'none', '-no-reboot'],
    ...['-kernel', kernel, '-initrd', initrd],
    ...['-append', readFileSync(cmdline, 'utf8').trim()],
    ...['-drive', `file=${image},format=raw,if=none,id=disk`],
    ...['-device', 'virtio-blk-pci,drive=disk'],
    // Without a network the board has no interface at all, as a board with its cable pulled.
    ...(opts.network === false
      ? ['-nic', 'none']
      : ['-netdev', 'user,id=net', '-device', 'virtio-net-pci,netdev=net,romfile=']),
    ...['-serial', 'stdio', '-monitor', 'none'],
    ...['-qmp', `unix:${qmp},server=on,wait=off`],
  ];
  const proc = spawn('qemu-system-aarch64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(consoleLog);
  let text = '';
  const keep = (c: Buffer): void => {
    text += c.toString('utf8');
    out.write(c);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const vm: BoardVm = {
    proc,
    consoleLog,
    console: () => text,
    waitForConsole: (pattern, what, timeoutMs) =>
      waitFor(
        () => {
          if (proc.exitCode !== null)
            throw new Error(`the board turned off while waiting for ${what}`);
          return pattern.exec(text)?.[0] ?? null;
        },
        { what, timeoutMs, intervalMs: 500 },
      ),
    powerOff: async (timeoutMs) => {
      if (proc.exitCode !== null) return 'clean';
      await qmpCommand(qmp, 'system_powerdown').catch(() => undefined);
      const clean = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref()),
      ]);
      if (!clean) {
        proc.kill('SIGKILL');
        await exited;
      }
      out.end();
      return clean ? 'clean' : 'killed';
    },
  };
  return vm;
}

/** Sends one QMP command over QEMU's control socket. */
function qmpCommand(socketPath: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buf = '';
    let sent = false;
    s.on('data', (c) => {
      buf += c.toString('utf8');
      if (!sent && buf.includes('"QMP"')) {
        sent = true;
        s.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
        s.write(`${JSON.stringify({ execute: command })}\n`);
      }
      if ((buf.match(/"return"/g) ?? []).length >= 2) {
        s.end();
        resolve();
      }
    });
    s.on('error', reject);
  });
}
