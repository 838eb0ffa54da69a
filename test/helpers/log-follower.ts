// A `fleet … logs -f` kept running by a test or a benchmark: its output line by line, each with when it was read.
import { spawn, type ChildProcess } from 'node:child_process';
import { FLEET, type ManagerProc } from './cluster.js';

export interface Follower {
  proc: ChildProcess;
  /** Lines printed so far (stdout and stderr), each with when it was read. */
  lines: { text: string; at: number; err: boolean }[];
  exited: Promise<number | null>;
}

export function followLogs(m: Pick<ManagerProc, 'address' | 'identity'>, args: string[]): Follower {
  const proc = spawn(process.execPath, [FLEET, ...args], {
    env: { ...process.env, FLEET_HOST: m.address, FLEET_IDENTITY: m.identity },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Follower['lines'] = [];
  const collect = (err: boolean): ((c: Buffer) => void) => {
    let rest = '';
    return (c) => {
      const at = Date.now();
      const parts = (rest + c.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const text of parts) lines.push({ text, at, err });
    };
  };
  proc.stdout?.on('data', collect(false));
  proc.stderr?.on('data', collect(true));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, lines, exited };
}
