// Runs a system tool for board setup with execFile (no shell); a failure names the tool and what it said.
import { execFile } from 'node:child_process';

/** Runs `cmd args`, feeding `input` on stdin when given; resolves with its standard output. */
export type RunTool = (cmd: string, args: readonly string[], input?: string) => Promise<string>;

/** A tool that failed: `missing` when it is not installed at all. */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly missing: boolean,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** The real runner. The C locale keeps the tools' output parseable. */
export const runTool: RunTool = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      { encoding: 'utf8', maxBuffer: 4 << 20, env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          reject(new ToolError(`${cmd} is not installed`, true));
          return;
        }
        const said = stderr.trim().split('\n').slice(-3).join('; ') || err.message;
        reject(new ToolError(`${[cmd, ...args].join(' ')}: ${said}`, false));
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
