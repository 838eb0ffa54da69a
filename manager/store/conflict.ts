// Writes refused alike on every manager: computed from records that changed since, or breaking a rule.

/**
 * The proposal was refused when applied, deterministically on every replica, and changed nothing.
 * The writer reads the store again and retries.
 */
export class WriteConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteConflict';
  }
}

/**
 * One line for a write that failed on the manager's disk, or null when the error is not about
 * storage. Nothing of the write remains: SQLite rolled the transaction back.
 */
export function storageFailure(e: unknown, what: string): string | null {
  const msg = e instanceof Error ? e.message : String(e);
  const code = e instanceof Error && 'code' in e ? String(e.code) : '';
  if (/SQLITE_FULL|database or disk is full|ENOSPC/i.test(`${code} ${msg}`))
    return "the manager's disk is full; nothing was written";
  // An I/O error says nothing about why: do not guess.
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO')
    return `the manager could not write ${what} (${msg}); nothing was written`;
  return null;
}

export function isWriteConflict(e: unknown): e is WriteConflict {
  return e instanceof WriteConflict;
}

/**
 * A SQLite constraint failure depends only on the data, so every replica fails the same way;
 * an I/O error or a full disk does not, and must never be taken for a refusal.
 */
export function isDeterministicFailure(e: unknown): boolean {
  const code = e instanceof Error && 'code' in e ? String(e.code) : '';
  return code.startsWith('SQLITE_CONSTRAINT');
}

/** Runs a read-compute-propose step again while it conflicts with other writers, a few times. */
export async function retryOnConflict<T>(step: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await step();
    } catch (e) {
      if (!isWriteConflict(e) || i >= attempts) throw e;
    }
  }
}
