// Finds a task's program missing from its container before the start, which an init would otherwise hide.
import type Docker from 'dockerode';
import path from 'node:path';
import { statusOf } from './errors.js';
import { destroyStream } from './streams.js';

/** The engine's search path for a program when the image sets none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Under an init the engine starts the init, which then fails to run a missing program: the
 * engine no longer refuses the start. So the program is looked up in the container first, as
 * the engine would (on PATH unless it has a slash), and the task rejected the same way.
 * Returns the engine's message for a missing program, or null when found or when it cannot tell.
 */
export async function missingProgram(container: Docker.Container): Promise<string | null> {
  const info = await container.inspect();
  const program = info.Path;
  if (!program) return null;
  for (const candidate of programCandidates(info)) {
    try {
      // The answer is a response stream (of a HEAD): left unread it would hold its engine
      // connection open for minutes.
      destroyStream((await container.infoArchive({ path: candidate })) as NodeJS.ReadableStream);
      return null;
    } catch (e) {
      if (statusOf(e) !== 404) return null; // cannot tell: let the start decide
    }
  }
  return `exec: "${program}": executable file not found in $PATH`;
}

/** Where the engine looks for the container's program: on PATH unless it has a slash. */
export function programCandidates(info: Docker.ContainerInspectInfo): string[] {
  const program = info.Path;
  if (!program) return [];
  const env = info.Config.Env ?? [];
  const searchPath = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  return program.includes('/')
    ? [path.posix.resolve(info.Config.WorkingDir || '/', program)]
    : searchPath
        .split(':')
        .filter((d) => d.startsWith('/'))
        .map((d) => path.posix.join(d, program));
}
