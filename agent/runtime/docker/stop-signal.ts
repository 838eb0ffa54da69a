// Whether a container's main process would drop its stop signal, so a stop need not wait out the grace period.
import type Docker from 'dockerode';
import { promises as fs } from 'node:fs';
import os from 'node:os';

/**
 * Whether the kernel would drop the container's stop signal: its main process ignores it, or
 * is its PID namespace's init (PID 1) without a handler for it, and such a process gets only
 * the signals it handles (see pid_namespaces(7)). False whenever it cannot be told, e.g. when
 * the engine's processes are not visible in this agent's /proc.
 */
export async function deafToStopSignal(docker: Docker, runtimeId: string): Promise<boolean> {
  const info = await docker.getContainer(runtimeId).inspect();
  if (!info.State.Running || !info.State.Pid) return false;
  // The engine sends the image's STOPSIGNAL (absent from dockerode's types), else SIGTERM.
  const stopSignal: unknown = (info.Config as unknown as Record<string, unknown>).StopSignal;
  const signal = signalNumber(
    typeof stopSignal === 'string' && stopSignal ? stopSignal : 'SIGTERM',
  );
  if (signal === null || signal === os.constants.signals.SIGKILL) return false;
  const proc = `/proc/${info.State.Pid}`;
  // In another PID namespace than the engine's (an agent in a container), that number may be
  // some other process: it must be in the container's cgroup.
  const cgroup = await fs.readFile(`${proc}/cgroup`, 'utf8');
  if (!cgroup.includes(info.Id)) return false;
  return signalDropped(await fs.readFile(`${proc}/status`, 'utf8'), signal);
}

/** A signal's number from a name (SIGTERM, TERM) or a number, as an image's STOPSIGNAL gives it. */
export function signalNumber(text: string): number | null {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) return Number(t);
  const name = (t.startsWith('SIG') ? t : `SIG${t}`) as keyof typeof os.constants.signals;
  return os.constants.signals[name] ?? null;
}

/**
 * From a /proc/PID/status text: whether the signal would be dropped, because the process
 * ignores it, or is the init (PID 1) of its PID namespace and has no handler for it. Unknown
 * (a kernel without NSpid, a malformed text) reads as not dropped.
 */
export function signalDropped(status: string, signal: number): boolean {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(status)?.[1]?.trim();
  const mask = (name: string): bigint | null => {
    const hex = field(name);
    return hex && /^[0-9a-f]+$/i.test(hex) ? BigInt(`0x${hex}`) : null;
  };
  const bit = 1n << BigInt(signal - 1);
  const ignored = mask('SigIgn');
  const caught = mask('SigCgt');
  if (ignored === null || caught === null) return false;
  if ((ignored & bit) !== 0n) return true;
  const nsPids = field('NSpid')?.split(/\s+/);
  const namespaceInit = nsPids !== undefined && nsPids.length > 1 && nsPids.at(-1) === '1';
  return namespaceInit && (caught & bit) === 0n;
}
