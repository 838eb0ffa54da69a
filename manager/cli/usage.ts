// Mistakes on the command line: the UsageError type and the message that names a flag and what it takes.

/** A mistake on the command line: printed with a --help hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const invalid = (flag: string, value: string, expected: string): UsageError =>
  new UsageError(`Invalid value for --${flag}: ${JSON.stringify(value)} (expected ${expected})`);
