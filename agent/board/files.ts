// Idempotent file edits for board setup: each writes, links or removes only when something differs, and says so.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';

const readOrNull = (file: string): Promise<string | null> =>
  fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });

/** The file's text, or null when it does not exist. */
export const readText = readOrNull;

/**
 * Makes `file` hold `text` with `mode` (a temporary file renamed over it, so a power cut leaves
 * the old or the new file). Returns true when the content or the mode changed.
 */
export async function writeIfChanged(file: string, text: string, mode = 0o644): Promise<boolean> {
  const before = await readOrNull(file);
  if (before === text) {
    const st = await fs.stat(file);
    if ((st.mode & 0o7777) === mode) return false;
    await fs.chmod(file, mode);
    return true;
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, text, mode);
  // The mode exactly, whatever the process's umask took away when the file was made.
  await fs.chmod(file, mode);
  return true;
}

/** Makes `link` a symbolic link to `target`, replacing whatever is there. True when it changed. */
export async function linkIfChanged(link: string, target: string): Promise<boolean> {
  const now = await fs.readlink(link).catch(() => null);
  if (now === target) return false;
  await fs.mkdir(path.dirname(link), { recursive: true });
  await fs.rm(link, { force: true });
  await fs.symlink(target, link);
  return true;
}

/** Removes `file` (or a link) when it exists. True when something was removed. */
export async function removeIfPresent(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
  } catch {
    return false;
  }
  await fs.rm(file, { force: true });
  return true;
}

/** Whether `file` exists (a dangling link counts as missing). */
export const exists = (file: string): Promise<boolean> =>
  fs.stat(file).then(
    () => true,
    () => false,
  );
