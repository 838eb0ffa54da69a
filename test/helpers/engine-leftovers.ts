// What a killed run of an extra Docker engine can leave behind (processes, mounts, dirs, its bridge), found and removed.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const DOCKERD_STOP_MS = 20_000;

/**
 * Stops a dockerd still running on this dir (its pidfile names it), kills any process still
 * using the dir (containerd, shims), unmounts what is mounted under it, deletes it and the bridge.
 */
export async function removeLeftovers(dir: string, bridge: string): Promise<void> {
  const pid = await readPid(`${dir}/docker.pid`);
  if (pid !== null && (await commandLine(pid)).includes(dir)) {
    signal(pid, 'SIGTERM');
    if (!(await exited(pid, DOCKERD_STOP_MS))) signal(pid, 'SIGKILL');
    await exited(pid, 5_000);
  }
  // A shim outlives a killed dockerd, and so does its container: the container's first
  // process (the shim's child) goes first, which ends everything in its pid namespace.
  const users = await processesUsing(dir);
  for (const child of await childrenOf(users)) signal(child, 'SIGKILL');
  for (const other of users) signal(other, 'SIGKILL');
  for (const mount of await mountsUnder(dir))
    await execFileP('umount', ['-l', mount]).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
  await removeBridge(bridge);
}

/** Deletes the bridge when it exists. */
export async function removeBridge(name: string): Promise<void> {
  const there = await execFileP('ip', ['link', 'show', name]).then(
    () => true,
    () => false,
  );
  if (there) await execFileP('ip', ['link', 'del', name]);
}

/** The first three octets of every IPv4 address on this host's interfaces ("10.222.3"). */
export async function usedSubnets(): Promise<Set<string>> {
  const { stdout } = await execFileP('ip', ['-4', '-o', 'addr', 'show']);
  const out = new Set<string>();
  for (const m of stdout.matchAll(/inet (\d+\.\d+\.\d+)\.\d+\//g)) if (m[1]) out.add(m[1]);
  return out;
}

async function readPid(file: string): Promise<number | null> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 1 ? pid : null;
}

async function commandLine(pid: number): Promise<string> {
  const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.replaceAll('\0', ' ');
}

/** Processes other than this one whose command line names the dir. */
async function processesUsing(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if ((await commandLine(pid)).includes(`${dir}/`)) out.push(pid);
  }
  return out;
}

/** The processes whose parent is one of the given ones. */
async function childrenOf(parents: number[]): Promise<number[]> {
  if (parents.length === 0) return [];
  const wanted = new Set(parents);
  const out: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (wanted.has(ppid)) out.push(pid);
  }
  return out;
}

/** Mount points under the dir, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((p) => p.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
