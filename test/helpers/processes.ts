// Finds test processes by their environment (Linux /proc): the tasks one test agent started.
import { promises as fs } from 'node:fs';

/** Live processes whose environment holds `entry` (Linux /proc), e.g. one test agent's address. */
export async function processesWithEnv(entry: string): Promise<number[]> {
  if (process.platform !== 'linux') return [];
  const out: number[] = [];
  for (const pid of (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const environ = await fs.readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(entry)) out.push(Number(pid));
  }
  return out;
}

/** Ends the task processes a killed test agent left (process tasks outlive their agent). */
export async function killTasksOf(address: string): Promise<void> {
  for (const pid of await processesWithEnv(`FLEET_HOST_IP=${address}`)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
